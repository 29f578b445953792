"""What every pod of a run has in common: Pod Security `restricted`, the run's pod settings, and how Secrets reach
its processes (environment from secretKeyRef and envFrom, never a Secret read by the operator)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from retrodiction.api.children import dask_tls_env, tls_secret_name
from retrodiction.api.training import PodSettings, SecretRef

# The uid of the images' user (worker_image/Dockerfile); pinned so runAsNonRoot also holds for images that would
# start as root.
RUN_AS_USER: Final = 10001

POD_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_USER,
    "runAsGroup": RUN_AS_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _copy(value: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def pod_spec(containers: list[dict[str, Any]], settings: PodSettings, **fields: Any) -> dict[str, Any]:
    """A pod spec that passes Pod Security `restricted`, with the run's scheduling and pull settings."""
    spec: dict[str, Any] = {
        **fields,
        "containers": containers,
        "securityContext": _copy(POD_SECURITY_CONTEXT),
        # Service links would inject DASK_SCHEDULER_* variables (which Dask reads as config) into every pod of a
        # namespace holding a Service named `dask-scheduler`, e.g. the cluster of a run called `dask`.
        "enableServiceLinks": False,
    }
    if settings.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": ref.name} for ref in settings.image_pull_secrets]
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in settings.tolerations]
    if settings.affinity:
        spec["affinity"] = _copy(settings.affinity)
    if settings.priority_class_name:
        spec["priorityClassName"] = settings.priority_class_name
    return spec


def container(name: str, image: str, command: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": command,
        "args": [],
        # dask-kubernetes appends DASK_WORKER_NAME / DASK_SCHEDULER_ADDRESS to a Dask container's env; a null env
        # crashes it.
        "env": [],
        "securityContext": _copy(CONTAINER_SECURITY_CONTEXT),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        **fields,
    }


def tls_env(run_name: str, role: str) -> list[dict[str, Any]]:
    """The run's certificates for a Dask `role`, from the run's TLS Secret, and encryption required. Not optional:
    a pod waits until the driver's init container has made the Secret."""
    secret = tls_secret_name(run_name)
    env: list[dict[str, Any]] = [{"name": "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION", "value": "True"}]
    for variable, key in dask_tls_env(role).items():
        env.append({"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    return env


def credentials_env_from(secret: SecretRef | None, prefix: str) -> list[dict[str, Any]]:
    """Every key of a credentials Secret as a variable under `prefix`. Optional, so a missing Secret does not hold
    the pod in CreateContainerConfigError for ever: the driver finds no variables and fails the run naming the
    field."""
    if secret is None:
        return []
    return [{"prefix": prefix, "secretRef": {"name": secret.name, "optional": True}}]
