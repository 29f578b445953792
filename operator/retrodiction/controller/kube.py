"""The few Kubernetes API calls the operator makes, in one place, with the error handling each one needs.

The official client is synchronous; the run of a training lives in a Kopf daemon thread, so blocking calls are
what that thread wants anyway.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction.api.training import GROUP, VERSION

log = logging.getLogger(__name__)

PLURAL = "retrodictiontrainings"
SCHEDULES = "retrodictionschedules"
DASK_GROUP, DASK_VERSION, DASK_CLUSTERS = "kubernetes.dask.org", "v1", "daskclusters"


class NotOwnedError(RuntimeError):
    """A child's name is taken by an object this run does not own (a user's, or a deleted run's)."""


class CreateRefusedError(RuntimeError):
    """The API server refused a create for a reason other than the name being taken (a quota, admission)."""


def _status(err: ApiException) -> int:
    return int(err.status or 0)


class KubeApi:
    def __init__(self, api_client: client.ApiClient, *, component: str = "retrodiction-operator") -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.component = component
        self._events: queue.Queue[tuple[str, client.CoreV1Event]] = queue.Queue()
        threading.Thread(target=self._post_events, name="events", daemon=True).start()

    # -- the run itself ------------------------------------------------------------------------------------------

    def patch_run_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self._patch_status(PLURAL, namespace, name, patch)

    def _patch_status(self, plural: str, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch the status subresource; an object deleted meanwhile is not an error."""
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, plural, name, {"status": dict(patch)}
            )
        except ApiException as err:
            if _status(err) != 404:
                raise

    def delete_run(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, body=client.V1DeleteOptions(propagation_policy="Background")
            )
        except ApiException as err:
            if _status(err) != 404:
                raise

    # -- schedules and the runs they start -------------------------------------------------------------------------

    def list_runs(self, namespace: str) -> list[dict[str, Any]]:
        """Every run in the namespace: a schedule finds its own by owner, since labels can be edited."""
        found = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        items: list[dict[str, Any]] = _as_dict(found).get("items", [])
        return items

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _as_dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
        except ApiException as err:
            if _status(err) == 404:
                return None
            raise

    def create_run(self, manifest: Mapping[str, Any]) -> bool:
        """Create a run; False when one of that name exists already (a slot started before a crash, or a name
        someone else took). Any other refusal raises CreateRefusedError with the API server's one-line reason."""
        try:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, manifest["metadata"]["namespace"], PLURAL, dict(manifest)
            )
            return True
        except ApiException as err:
            if _status(err) == 409:
                return False
            raise CreateRefusedError(_reason(err)) from None

    def patch_schedule_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self._patch_status(SCHEDULES, namespace, name, patch)

    # -- Kopf peering ---------------------------------------------------------------------------------------------

    def ensure_peering(self, name: str, namespace: str | None) -> None:
        """The ClusterKopfPeering (namespace None) or KopfPeering replicas announce themselves in; kept if there."""
        kind, plural = ("KopfPeering", "kopfpeerings") if namespace else ("ClusterKopfPeering", "clusterkopfpeerings")
        body = {"apiVersion": "kopf.dev/v1", "kind": kind, "metadata": {"name": name}}
        try:
            if namespace:
                self.custom.create_namespaced_custom_object("kopf.dev", "v1", namespace, plural, body)
            else:
                self.custom.create_cluster_custom_object("kopf.dev", "v1", plural, body)
        except ApiException as err:
            if _status(err) != 409:
                raise

    # -- children -------------------------------------------------------------------------------------------------

    def ensure_dask_cluster(self, manifest: Mapping[str, Any], run_uid: str) -> dict[str, Any]:
        """Create the DaskCluster, or adopt the one a previous attempt of this run created (idempotent)."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            return _as_dict(
                self.custom.create_namespaced_custom_object(
                    DASK_GROUP, DASK_VERSION, namespace, DASK_CLUSTERS, dict(manifest)
                )
            )
        except ApiException as err:
            if _status(err) != 409:
                raise
        existing = _as_dict(
            self.custom.get_namespaced_custom_object(DASK_GROUP, DASK_VERSION, namespace, DASK_CLUSTERS, name)
        )
        _require_owner(existing, run_uid)
        return existing

    def get_dask_cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _as_dict(
                self.custom.get_namespaced_custom_object(DASK_GROUP, DASK_VERSION, namespace, DASK_CLUSTERS, name)
            )
        except ApiException as err:
            if _status(err) == 404:
                return None
            raise

    def delete_dask_cluster(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                DASK_GROUP,
                DASK_VERSION,
                namespace,
                DASK_CLUSTERS,
                name,
                body=client.V1DeleteOptions(propagation_policy="Background"),
            )
        except ApiException as err:
            if _status(err) != 404:
                raise

    def apply_configmap(self, manifest: Mapping[str, Any], run_uid: str) -> None:
        """Create or replace a ConfigMap this run owns; refuse to overwrite one it does not."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            self.core.create_namespaced_config_map(namespace, manifest)  # type: ignore[arg-type]  # dicts serialise
            return
        except ApiException as err:
            if _status(err) != 409:
                raise
        existing = self.core.read_namespaced_config_map(name, namespace)
        _require_owner(self.core.api_client.sanitize_for_serialization(existing), run_uid)
        self.core.replace_namespaced_config_map(name, namespace, manifest)  # type: ignore[arg-type]

    def replace_owned_configmap(self, manifest: Mapping[str, Any], run_uid: str) -> None:
        """Replace a ConfigMap this run is known to have written: one request instead of apply's three.

        Falls back to apply_configmap when it has gone missing since."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            self.core.replace_namespaced_config_map(name, namespace, manifest)  # type: ignore[arg-type]
        except ApiException as err:
            if _status(err) != 404:
                raise
            self.apply_configmap(manifest, run_uid)

    def list_configmaps(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        found = self.core.list_namespaced_config_map(namespace, label_selector=selector)
        items: list[dict[str, Any]] = self.core.api_client.sanitize_for_serialization(found).get("items", [])
        return items

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's keys and decoded values (used as fsspec storage options)."""
        secret = self.core.read_namespaced_secret(name, namespace)
        return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}

    def ready_endpoints(self, namespace: str, service: str, port_name: str) -> list[tuple[str, int]]:
        """(pod IP, port) of the ready pods behind a Service, by the rule the endpointslice controller applies.

        Read from the pods rather than from EndpointSlices: an operator outside the cluster network needs pod
        addresses, and a local test cluster's loopback pod addresses are refused in EndpointSlices.
        """
        try:
            found_service = self.core.read_namespaced_service(service, namespace)
        except ApiException as err:
            if _status(err) == 404:
                return []
            raise
        service_spec = found_service.spec or client.V1ServiceSpec()
        selector = service_spec.selector or {}
        target = next((p.target_port for p in service_spec.ports or [] if p.name == port_name), None)
        if not selector or target is None:
            return []
        pods = self.core.list_namespaced_pod(
            namespace, label_selector=",".join(f"{key}={value}" for key, value in sorted(selector.items()))
        )
        found: list[tuple[str, int]] = []
        for pod in pods.items:
            status = pod.status
            terminating = pod.metadata is not None and pod.metadata.deletion_timestamp is not None
            if terminating or status is None or not status.pod_ip or status.phase != "Running":
                continue
            if not any(c.type == "Ready" and c.status == "True" for c in status.conditions or []):
                continue
            port = _container_port(pod, target)
            if port is not None:
                found.append((status.pod_ip, port))
        return found

    # -- events ---------------------------------------------------------------------------------------------------

    def event(self, run: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        """A core/v1 Event on the run (or schedule); losing one is logged, never fatal to the run."""
        meta = run["metadata"]
        now = datetime.now(UTC)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}",
                kind=run.get("kind", "RetrodictionTraining"),
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta["uid"],
                resource_version=meta.get("resourceVersion"),
            ),
            reason=reason,
            message=message[:1024],
            type=kind,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=client.V1EventSource(component=self.component),
            reporting_component=self.component,
            reporting_instance=self.component,
        )
        self._events.put((meta["namespace"], body))

    def _post_events(self) -> None:
        # One thread posts every Event in order, off the run's path: an Event is a record, not a step of the run.
        while True:
            namespace, body = self._events.get()
            try:
                self.core.create_namespaced_event(namespace, body)
            except ApiException as err:
                log.warning("could not record event %s: %s", body.reason, err.reason)
            except Exception:
                log.exception("could not record event %s", body.reason)
            finally:
                self._events.task_done()

    def flush_events(self, timeout: float = 10.0) -> None:
        """Wait until every Event queued so far is posted (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._events.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)


def _reason(err: ApiException) -> str:
    """The API server's message for a refused request (a Status object's `message`), on one line."""
    try:
        message = str(json.loads(err.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return " ".join(f"{err.status} {err.reason}: {message}".split())[:512]


def _container_port(pod: client.V1Pod, target: int | str) -> int | None:
    """A Service's targetPort on one pod: a number as is, a name looked up among the containers' ports."""
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in pod.spec.containers if pod.spec else []:
        for port in container.ports or []:
            if port.name == target:
                return int(port.container_port)
    return None


def _as_dict(obj: object) -> dict[str, Any]:
    # The custom-objects API returns plain JSON dicts but is typed as returning `object`.
    if not isinstance(obj, dict):
        raise TypeError(f"expected a JSON object from the API server, got {type(obj).__name__}")
    return obj


def _require_owner(obj: Mapping[str, Any], run_uid: str) -> None:
    owners = obj.get("metadata", {}).get("ownerReferences") or []
    if not any(owner.get("uid") == run_uid for owner in owners):
        name = obj.get("metadata", {}).get("name")
        raise NotOwnedError(f"{obj.get('kind', 'object')} {name} exists and is not owned by this run")
