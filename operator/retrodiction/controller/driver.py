"""A run's driver and what it is allowed: pure builders of the Job, its ServiceAccount, Role and RoleBindings, and
the NetworkPolicy around its Dask pods, unit-tested without a cluster.

The driver runs `retrodiction train rt/NAME` in the run's namespace: the same command as on a laptop, with the
cluster as its sinks. Its ServiceAccount may read its own run (a Role naming it), and do what the chart's driver
ClusterRole grants in that namespace (write ConfigMaps, create the run's TLS Secret): nothing a tenant of the
namespace could not do already, and nothing outside it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from retrodiction.api.children import (
    DATA_CREDENTIALS_PREFIX,
    OUTPUT_CREDENTIALS_PREFIX,
    child_labels,
    child_metadata,
    dask_cluster_name,
    driver_account_name,
    driver_job_name,
    network_policy_name,
    required_field,
)
from retrodiction.api.report import DriverExit
from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.controller.dask_cluster import scheduler_address, worker_resources
from retrodiction.controller.pods import container, credentials_env_from, pod_spec, tls_env
from retrodiction.identity import (
    COMPONENT_DASK_CLUSTER,
    COMPONENT_DRIVER,
    COMPONENT_LABEL,
    COMPONENT_NETWORK_POLICY,
    GROUP,
    RUN_UID_LABEL,
    TRAININGS,
)

# Pods of a driver that crashed (OOM, a lost node) before the run fails; a bad-input exit fails it at once.
DRIVER_BACKOFF_LIMIT: Final = 4
DRIVER_CONTAINER: Final = "driver"
DRIVER_METRICS_PORT: Final = 9090
# The Job's own deadline backs up the driver's, which stores the partial summary first.
DEADLINE_GRACE_SECONDS: Final = 60


# What the chart's driver ClusterRole grants each run's driver in its run's namespace (the chart's
# retrodiction-operator.driverRules; tests/unit keeps the two equal).
DRIVER_CLUSTER_RULES: Final = (
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "update", "delete"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
)


def driver_cluster_role(name: str) -> dict[str, Any]:
    """The driver ClusterRole, for clusters where the operator runs without its chart (tests, development)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": copy.deepcopy(list(DRIVER_CLUSTER_RULES)),
    }


def driver_command(run_meta: Mapping[str, Any], spec: RetrodictionTrainingSpec) -> list[str]:
    name, namespace = required_field(run_meta, "name"), required_field(run_meta, "namespace")
    command = ["retrodiction", "train", f"rt/{name}", "--namespace", namespace]
    if spec.dask.mode == "kubernetes":
        command += ["--scheduler", scheduler_address(dask_cluster_name(name), namespace)]
    return command


def build_driver_job(
    run_meta: Mapping[str, Any],
    spec: RetrodictionTrainingSpec,
    *,
    image: str,
    env: Mapping[str, str],
    deadline_seconds: int | None = None,
) -> dict[str, Any]:
    """The run's driver Job. `image` is the operator's default worker image (an allowed spec.dask.image wins: a
    tenant's models need their own image); `env` is what the operator tells the driver (RETRODICTION_* settings
    and policy); `deadline_seconds` the time left of spec.execution.activeDeadlineSeconds, if any.

    Raises ValueError when spec.driver.resources is not something a PodSpec accepts.
    """
    name, namespace = required_field(run_meta, "name"), required_field(run_meta, "namespace")
    image = spec.dask.image or image
    labels = child_labels(run_meta, {COMPONENT_LABEL: COMPONENT_DRIVER})
    settings = [{"name": key, "value": value} for key, value in sorted(env.items())]
    driver = container(
        DRIVER_CONTAINER,
        image,
        driver_command(run_meta, spec),
        resources=worker_resources(spec.driver.resources, "spec.driver.resources"),
        ports=[{"name": "http-metrics", "containerPort": DRIVER_METRICS_PORT, "protocol": "TCP"}],
    )
    driver["env"] = [
        *settings,
        {"name": "RETRODICTION_DRIVER_METRICS_PORT", "value": str(DRIVER_METRICS_PORT)},
        {"name": "RETRODICTION_BIND_ADDRESS", "value": "0.0.0.0"},
    ]
    driver["envFrom"] = credentials_env_from(
        spec.data.credentials_secret_ref, DATA_CREDENTIALS_PREFIX
    ) + credentials_env_from(spec.output.credentials_secret_ref, OUTPUT_CREDENTIALS_PREFIX)
    init: list[dict[str, Any]] = []
    if spec.dask.mode == "kubernetes":
        driver["env"] += tls_env(name, "client")
        # The run's certificates, made before the driver starts: its own variables name the Secret they make.
        tls = container("tls", image, ["retrodiction", "tls", f"rt/{name}", "--namespace", namespace], resources={})
        tls["env"] = [item for item in settings if item["name"] == "RETRODICTION_RUN_UID"]
        init.append(tls)
    pod = pod_spec(
        [driver],
        spec.pods,
        restartPolicy="Never",
        serviceAccountName=driver_account_name(name),
        automountServiceAccountToken=True,
        terminationGracePeriodSeconds=30,
    )
    if init:
        pod["initContainers"] = init
    job_spec: dict[str, Any] = {
        "backoffLimit": DRIVER_BACKOFF_LIMIT,
        "suspend": spec.execution.suspend,
        "podFailurePolicy": {
            "rules": [
                # The driver's own verdicts (the spec, the data, the batches, the deadline): no retry changes them.
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": DRIVER_CONTAINER,
                        "operator": "In",
                        "values": list(DriverExit.PERMANENT),
                    },
                },
                # An evicted or preempted driver is replaced without counting against the back-off limit.
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            ]
        },
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = max(1, deadline_seconds) + DEADLINE_GRACE_SECONDS
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": child_metadata(run_meta, driver_job_name(name), {COMPONENT_LABEL: COMPONENT_DRIVER}),
        "spec": job_spec,
    }


def build_driver_access(run_meta: Mapping[str, Any], driver_cluster_role: str) -> list[dict[str, Any]]:
    """The driver's ServiceAccount, a Role that lets it read its own run (by name), and RoleBindings for that Role
    and for the chart's driver ClusterRole, all in the run's namespace and owned by the run."""
    name = required_field(run_meta, "name")
    account = driver_account_name(name)
    labels = {COMPONENT_LABEL: COMPONENT_DRIVER}
    subject = {"kind": "ServiceAccount", "name": account, "namespace": required_field(run_meta, "namespace")}

    def binding(binding_name: str, kind: str, role: str) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": child_metadata(run_meta, binding_name, labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [subject],
        }

    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": child_metadata(run_meta, account, labels)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": child_metadata(run_meta, account, labels),
            "rules": [{"apiGroups": [GROUP], "resources": [TRAININGS], "resourceNames": [name], "verbs": ["get"]}],
        },
        binding(account, "Role", account),
        binding(f"{account}-shared", "ClusterRole", driver_cluster_role),
    ]


def build_network_policy(run_meta: Mapping[str, Any]) -> dict[str, Any]:
    """Only the run's own pods (its driver, scheduler and workers) may connect to its Dask pods. Defence in depth:
    the run's TLS already refuses any peer without the run's certificate, whatever the CNI enforces."""
    uid = required_field(run_meta, "uid")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_metadata(
            run_meta, network_policy_name(required_field(run_meta, "name")), {COMPONENT_LABEL: COMPONENT_NETWORK_POLICY}
        ),
        "spec": {
            "podSelector": {"matchLabels": {RUN_UID_LABEL: uid, COMPONENT_LABEL: COMPONENT_DASK_CLUSTER}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {RUN_UID_LABEL: uid}}}]}],
        },
    }
