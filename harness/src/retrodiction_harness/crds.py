"""Installing the project's CRDs (from crds/) into the cluster under test."""

from __future__ import annotations

import time
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction_harness.repo import REPO_ROOT


def resource_version(metadata: client.V1ObjectMeta | None) -> str | None:
    return metadata.resource_version if metadata is not None else None


def apply_crd(api: client.ApiClient, crd: dict[str, Any], *, timeout: float = 30.0) -> None:
    """Create or update a CRD and wait until the API server serves it."""
    extensions = client.ApiextensionsV1Api(api)
    name = crd["metadata"]["name"]
    # The client sends a dict body as it is; its annotations name only its models, hence the ignores.
    try:
        current = extensions.read_custom_resource_definition(name)
        crd = {**crd, "metadata": {**crd["metadata"], "resourceVersion": resource_version(current.metadata)}}
        extensions.replace_custom_resource_definition(name, crd)  # type: ignore[arg-type]
    except ApiException as err:
        if err.status != 404:
            raise
        extensions.create_custom_resource_definition(crd)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = extensions.read_custom_resource_definition(name).status
        conditions = (status.conditions if status is not None else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise AssertionError(f"CRD {name} was not established within {timeout:.0f} s")


def apply_project_crds(api: client.ApiClient) -> list[str]:
    """The CRDs, and the driver ClusterRole the chart would install (each run's driver is bound to it)."""
    names = []
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        apply_crd(api, crd)
        names.append(crd["metadata"]["name"])
    apply_driver_cluster_role(api)
    return names


def apply_driver_cluster_role(api: client.ApiClient, name: str = "retrodiction-driver") -> None:
    from retrodiction.controller.driver import driver_cluster_role

    rbac = client.RbacAuthorizationV1Api(api)
    body = driver_cluster_role(name)
    try:
        rbac.create_cluster_role(body)  # type: ignore[arg-type]  # a dict body, as in apply_crd
    except ApiException as err:
        if err.status != 409:
            raise
        rbac.replace_cluster_role(name, body)  # type: ignore[arg-type]
