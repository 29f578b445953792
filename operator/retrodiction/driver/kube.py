"""The few API calls a run's driver makes, all in its own namespace, with its own ServiceAccount's token.

What the driver may do is what its ServiceAccount is granted (the chart's driver ClusterRole, bound per run, and
a Role naming its own run): read its run, write ConfigMaps it owns, create its run's TLS Secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction.identity import GROUP, TRAININGS, VERSION
from retrodiction.kube_client import as_dict, status_code
from retrodiction.ownership import require_controlled_by

# Every request gives up after this (connect, read): a driver must not hang on a stuck API server.
REQUEST_TIMEOUT = (10, 60)


class DriverApi:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    def get_run(self, namespace: str, name: str) -> dict[str, Any]:
        return as_dict(
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, TRAININGS, name, _request_timeout=REQUEST_TIMEOUT
            )
        )

    # -- ConfigMaps the run owns -------------------------------------------------------------------------------

    def apply_configmap(self, manifest: Mapping[str, Any], run_uid: str) -> None:
        """Create or replace a ConfigMap this run owns; refuse to overwrite one it does not."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            self.core.create_namespaced_config_map(namespace, manifest, _request_timeout=REQUEST_TIMEOUT)  # type: ignore[arg-type]
            return
        except ApiException as err:
            if status_code(err) != 409:
                raise
        existing = self.core.read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        require_controlled_by(self.core.api_client.sanitize_for_serialization(existing), run_uid)
        self.core.replace_namespaced_config_map(name, namespace, manifest, _request_timeout=REQUEST_TIMEOUT)  # type: ignore[arg-type]

    def replace_owned_configmap(self, manifest: Mapping[str, Any], run_uid: str) -> None:
        """Replace a ConfigMap this run is known to have written: one request instead of apply's three.

        Falls back to apply_configmap when it has gone missing since."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            self.core.replace_namespaced_config_map(name, namespace, manifest, _request_timeout=REQUEST_TIMEOUT)  # type: ignore[arg-type]
        except ApiException as err:
            if status_code(err) != 404:
                raise
            self.apply_configmap(manifest, run_uid)

    # -- ConfigMaps of others (a schedule's history): raw reads and writes, ownership checked by the caller ----------

    def read_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found = self.core.read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as err:
            if status_code(err) == 404:
                return None
            raise
        return as_dict(self.core.api_client.sanitize_for_serialization(found))

    def create_configmap(self, manifest: Mapping[str, Any]) -> None:
        namespace = manifest["metadata"]["namespace"]
        self.core.create_namespaced_config_map(namespace, manifest, _request_timeout=REQUEST_TIMEOUT)  # type: ignore[arg-type]

    def replace_configmap(self, manifest: Mapping[str, Any]) -> None:
        """Replace with the manifest's resourceVersion: 409 when the object changed since it was read."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        self.core.replace_namespaced_config_map(name, namespace, manifest, _request_timeout=REQUEST_TIMEOUT)  # type: ignore[arg-type]

    def list_configmaps(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        found = self.core.list_namespaced_config_map(
            namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
        )
        items: list[dict[str, Any]] = self.core.api_client.sanitize_for_serialization(found).get("items", [])
        return items

    def delete_configmap(self, namespace: str, name: str) -> None:
        try:
            self.core.delete_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as err:
            if status_code(err) != 404:
                raise

    # -- the run's TLS Secret ------------------------------------------------------------------------------------

    def create_secret(self, manifest: Mapping[str, Any]) -> bool:
        """Create a Secret; False when one of that name exists (made by an earlier attempt of this driver).

        The driver may create Secrets but never read one: what it needs of the Secret reaches it as environment."""
        try:
            body: Any = manifest  # the client serialises dicts as they are
            self.core.create_namespaced_secret(
                manifest["metadata"]["namespace"], body, _request_timeout=REQUEST_TIMEOUT
            )
            return True
        except ApiException as err:
            if status_code(err) == 409:
                return False
            raise
