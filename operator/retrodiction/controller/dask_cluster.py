"""The run's DaskCluster (dask-kubernetes), built as a plain manifest and unit-tested without a cluster."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from retrodiction.api.children import DATA_CREDENTIALS_PREFIX, child_metadata, dask_cluster_name, required_field
from retrodiction.api.training import PodSettings, RetrodictionTrainingSpec
from retrodiction.controller.pods import container, credentials_env_from, pod_spec, tls_env
from retrodiction.identity import COMPONENT_DASK_CLUSTER, COMPONENT_LABEL, DASK_API_VERSION, TLS_ANNOTATION

# --- resources -----------------------------------------------------------------------------------------------------

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$"
)
_SUFFIX: Mapping[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    **{suffix: Decimal(2) ** (10 * (i + 1)) for i, suffix in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes resource.Quantity ("2Gi", "500m", "1e9", 3) as a number; ValueError when malformed."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as err:
        raise ValueError(f"not a quantity: {value!r}") from err
    if match["exponent"]:
        return number * Decimal(10) ** int(match["exponent"][1:])
    return number * _SUFFIX[match["suffix"] or ""]


def _quantity_text(value: Any, where: str) -> str:
    try:
        number = parse_quantity(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {err}") from err
    if number < 0:
        raise ValueError(f"{where}: must not be negative, got {value!r}")
    # The DaskCluster CRD types quantities as strings; a bare YAML number would be rejected.
    return value.strip() if isinstance(value, str) else format(number, "f")


def worker_resources(resources: Mapping[str, Any], field: str = "spec.dask.resources") -> dict[str, dict[str, str]]:
    """ResourceRequirements (`field` of the spec) checked and in the string form the DaskCluster CRD wants."""
    unknown = sorted(set(resources) - {"limits", "requests"})
    if unknown:
        raise ValueError(f"{field} supports limits and requests, not {unknown}")
    normalized: dict[str, dict[str, str]] = {}
    for section in ("limits", "requests"):
        values = resources.get(section) or {}
        if not isinstance(values, Mapping):
            raise ValueError(f"{field}.{section} must be a mapping")
        if values:
            normalized[section] = {
                str(key): _quantity_text(value, f"{field}.{section}.{key}") for key, value in values.items()
            }
    return normalized


def memory_limit_bytes(resources: Mapping[str, Any]) -> int | None:
    limit = (resources.get("limits") or {}).get("memory")
    return None if limit is None else math.ceil(parse_quantity(limit))


# --- the DaskCluster -----------------------------------------------------------------------------------------------

SCHEDULER_PORT: Final = 8786
SCHEDULER_DASHBOARD_PORT: Final = 8787
WORKER_DASHBOARD_PORT: Final = 8788


def scheduler_address(cluster: str, namespace: str) -> str:
    """The scheduler by its Service's cluster DNS name, over TLS (what the workers and the driver dial)."""
    return f"tls://{cluster}-scheduler.{namespace}.svc.cluster.local:{SCHEDULER_PORT}"


def _scheduler(cluster: str, run_name: str, image: str, labels: Mapping[str, str], pods: PodSettings) -> dict[str, Any]:
    command = [
        "dask",
        "scheduler",
        "--protocol",
        "tls",
        "--host",
        "0.0.0.0",
        "--port",
        str(SCHEDULER_PORT),
        "--dashboard-address",
        f"0.0.0.0:{SCHEDULER_DASHBOARD_PORT}",
    ]
    ports = [
        {"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
        {"name": "http-dashboard", "containerPort": SCHEDULER_DASHBOARD_PORT, "protocol": "TCP"},
    ]
    scheduler = container("scheduler", image, command, ports=ports, resources={})
    scheduler["env"] = tls_env(run_name, "scheduler")
    # Ready means the scheduler serves requests, not that its process started (dask-kubernetes#655, #968).
    # The CRD types httpGet.port as a string, so the port is referenced by name.
    health = {"path": "/health", "port": "http-dashboard"}
    scheduler["readinessProbe"] = {"httpGet": health, "periodSeconds": 2, "timeoutSeconds": 5, "failureThreshold": 3}
    # Generous: killing a busy scheduler loses every batch in flight.
    scheduler["livenessProbe"] = {
        "httpGet": dict(health),
        "initialDelaySeconds": 15,
        "periodSeconds": 20,
        "timeoutSeconds": 10,
        "failureThreshold": 6,
    }
    return {
        "metadata": {"labels": dict(labels)},
        # Dask pods never call the Kubernetes API.
        "spec": pod_spec([scheduler], pods, automountServiceAccountToken=False),
        "service": {
            "type": "ClusterIP",
            "selector": {"dask.org/cluster-name": cluster, "dask.org/component": "scheduler"},
            "ports": [
                {"name": "tcp-comm", "protocol": "TCP", "port": SCHEDULER_PORT, "targetPort": "tcp-comm"},
                {
                    "name": "http-dashboard",
                    "protocol": "TCP",
                    "port": SCHEDULER_DASHBOARD_PORT,
                    "targetPort": "http-dashboard",
                },
            ],
        },
    }


def _worker(
    cluster: str, run_meta: Mapping[str, Any], spec: RetrodictionTrainingSpec, image: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    # The scheduler's TLS address is given as the argument (dask-kubernetes injects a tcp:// one as
    # DASK_SCHEDULER_ADDRESS). Listeners are on 0.0.0.0 spelt out: left implicit, a worker advertises the address
    # of the host's default route, which is not the pod's on every network.
    command = [
        "dask",
        "worker",
        scheduler_address(cluster, required_field(run_meta, "namespace")),
        "--name",
        "$(DASK_WORKER_NAME)",
        "--host",
        "0.0.0.0",
        "--nthreads",
        "1",
        "--dashboard-address",
        f"0.0.0.0:{WORKER_DASHBOARD_PORT}",
    ]
    limit = memory_limit_bytes(spec.dask.resources)
    if limit is not None:
        # Dask spills and pauses relative to this; matching the container limit keeps it ahead of the OOM killer.
        command += ["--memory-limit", str(limit)]
    ports = [{"name": "http-dashboard", "containerPort": WORKER_DASHBOARD_PORT, "protocol": "TCP"}]
    worker = container("worker", image, command, ports=ports, resources=worker_resources(spec.dask.resources))
    worker["env"] = tls_env(run_meta["name"], "worker")
    # Workers read the data: its credentials reach them as their own environment, never inside a task.
    worker["envFrom"] = credentials_env_from(spec.data.credentials_secret_ref, DATA_CREDENTIALS_PREFIX)
    return {
        "replicas": spec.dask.workers,
        "metadata": {"labels": dict(labels)},
        "spec": pod_spec([worker], spec.pods, automountServiceAccountToken=False),
    }


def build_dask_cluster(
    run_meta: Mapping[str, Any],
    spec: RetrodictionTrainingSpec,
    *,
    image: str,
    extra_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The run's `kubernetes.dask.org/v1` DaskCluster; `image` is the operator's default worker image (an allowed
    spec.dask.image wins). Its scheduler speaks only TLS with the run's certificates.

    Raises ValueError when spec.dask.resources is not something a PodSpec accepts.
    """
    image = spec.dask.image or image
    if not image:
        raise ValueError("no worker image: set spec.dask.image or the operator's default image")
    name = dask_cluster_name(required_field(run_meta, "name"))
    labels = {**dict(extra_labels or {}), COMPONENT_LABEL: COMPONENT_DASK_CLUSTER}
    metadata = child_metadata(run_meta, name, labels)
    metadata["annotations"] = {TLS_ANNOTATION: "true"}
    return {
        "apiVersion": DASK_API_VERSION,
        "kind": "DaskCluster",
        "metadata": metadata,
        "spec": {
            # The operator deletes the cluster when the run ends; Dask must not do it behind our back.
            "idleTimeout": 0,
            "scheduler": _scheduler(name, run_meta["name"], image, metadata["labels"], spec.pods),
            "worker": _worker(name, run_meta, spec, image, metadata["labels"]),
        },
    }
