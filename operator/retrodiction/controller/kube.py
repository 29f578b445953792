"""The few Kubernetes API calls the operator makes, in one place, with the error handling each one needs.

The official client is synchronous and every call has a timeout; the async run lifecycle calls it through
asyncio.to_thread, so no run holds a thread of its own while it waits. The operator makes no call to a tenant's
URI, holds no Secret verb, and reads only one kind of tenant-written object: a run's driver report, capped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction.api.schedule import ScheduleStatusPatch
from retrodiction.api.status import MergePatch, RunStatusPatch
from retrodiction.controller.kube_api import EventType
from retrodiction.identity import (
    DASK_CLUSTERS,
    DASK_GROUP,
    DASK_VERSION,
    GROUP,
    SCHEDULES,
    TRAINING_KIND,
    TRAININGS,
    VERSION,
)
from retrodiction.kube_client import as_dict, reason, status_code
from retrodiction.ownership import require_controlled_by

log = logging.getLogger(__name__)

# Every request gives up after this (connect, read): a stuck API server must not hold a pass for ever.
REQUEST_TIMEOUT = (10, 60)


class TooLargeError(ValueError):
    """An object a tenant wrote is larger than the operator reads."""


class CreateRefusedError(RuntimeError):
    """The API server refused a create for a reason other than the name being taken (a quota, admission)."""


class KubernetesApi:
    """controller/kube_api.py's KubeApi, against the API server."""

    def __init__(self, api_client: client.ApiClient, *, component: str = "retrodiction-operator") -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        self.component = component
        self._events: queue.Queue[tuple[str, client.CoreV1Event]] = queue.Queue()
        threading.Thread(target=self._post_events, name="events", daemon=True).start()

    # -- the run itself ------------------------------------------------------------------------------------------

    def patch_run_status(self, namespace: str, name: str, patch: RunStatusPatch) -> None:
        self._patch_status(TRAININGS, namespace, name, patch)

    def _patch_status(self, plural: str, namespace: str, name: str, patch: MergePatch) -> None:
        """Merge-patch the status subresource; an object deleted meanwhile is not an error."""
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, plural, name, {"status": patch.to_patch()}
            )
        except ApiException as err:
            if status_code(err) != 404:
                raise

    def delete_run(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, TRAININGS, name, body=client.V1DeleteOptions(propagation_policy="Background")
            )
        except ApiException as err:
            if status_code(err) != 404:
                raise

    # -- schedules and the runs they start -------------------------------------------------------------------------

    def list_runs(self, namespace: str) -> list[dict[str, Any]]:
        """Every run in the namespace: a schedule finds its own by owner, since labels can be edited."""
        found = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, TRAININGS)
        items: list[dict[str, Any]] = as_dict(found).get("items", [])
        return items

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return as_dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, TRAININGS, name))
        except ApiException as err:
            if status_code(err) == 404:
                return None
            raise

    def create_run(self, manifest: Mapping[str, Any]) -> bool:
        """Create a run; False when one of that name exists already (a slot started before a crash, or a name
        someone else took). Any other refusal raises CreateRefusedError with the API server's one-line reason."""
        try:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, manifest["metadata"]["namespace"], TRAININGS, dict(manifest)
            )
            return True
        except ApiException as err:
            if status_code(err) == 409:
                return False
            raise CreateRefusedError(reason(err)) from None

    def patch_schedule_status(self, namespace: str, name: str, patch: ScheduleStatusPatch) -> None:
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
            if status_code(err) != 409:
                raise

    # -- children -------------------------------------------------------------------------------------------------

    def ensure_child(self, manifest: Mapping[str, Any], run_uid: str) -> dict[str, Any]:
        """Create a child of the run, or adopt the one an earlier pass created (idempotent); NotOwnedError when its
        name is taken by an object the run does not own."""
        kind = manifest["kind"]
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        create, read = self._child_calls[kind]
        try:
            return self._dict(create(namespace, dict(manifest), _request_timeout=REQUEST_TIMEOUT))
        except ApiException as err:
            if status_code(err) != 409:
                raise
        existing = self._dict(read(name, namespace, _request_timeout=REQUEST_TIMEOUT))
        require_controlled_by(existing, run_uid)
        return existing

    @property
    def _child_calls(self) -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
        def custom(plural: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
            return (
                lambda namespace, body, **kw: self.custom.create_namespaced_custom_object(
                    DASK_GROUP, DASK_VERSION, namespace, plural, body, **kw
                ),
                lambda name, namespace, **kw: self.custom.get_namespaced_custom_object(
                    DASK_GROUP, DASK_VERSION, namespace, plural, name, **kw
                ),
            )

        return {
            "ServiceAccount": (self.core.create_namespaced_service_account, self.core.read_namespaced_service_account),
            "Role": (self.rbac.create_namespaced_role, self.rbac.read_namespaced_role),
            "RoleBinding": (self.rbac.create_namespaced_role_binding, self.rbac.read_namespaced_role_binding),
            "NetworkPolicy": (
                self.networking.create_namespaced_network_policy,
                self.networking.read_namespaced_network_policy,
            ),
            "Job": (self.batch.create_namespaced_job, self.batch.read_namespaced_job),
            "DaskCluster": custom(DASK_CLUSTERS),
        }

    def _dict(self, obj: object) -> dict[str, Any]:
        if isinstance(obj, dict):
            return obj
        serialised: dict[str, Any] = self.core.api_client.sanitize_for_serialization(obj)
        return serialised

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._dict(self.batch.read_namespaced_job(name, namespace, _request_timeout=REQUEST_TIMEOUT))
        except ApiException as err:
            if status_code(err) == 404:
                return None
            raise

    def suspend_job(self, namespace: str, name: str, suspend: bool) -> None:
        """Suspend (its pod is deleted) or resume (a new pod starts) the driver Job; a missing Job is no error."""
        try:
            self.batch.patch_namespaced_job(
                name, namespace, {"spec": {"suspend": suspend}}, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as err:
            if status_code(err) != 404:
                raise

    def get_dask_cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return as_dict(
                self.custom.get_namespaced_custom_object(
                    DASK_GROUP, DASK_VERSION, namespace, DASK_CLUSTERS, name, _request_timeout=REQUEST_TIMEOUT
                )
            )
        except ApiException as err:
            if status_code(err) == 404:
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
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as err:
            if status_code(err) != 404:
                raise

    def read_configmap_capped(self, namespace: str, name: str, cap: int) -> bytes | None:
        """The ConfigMap object's JSON, read from the wire up to `cap` bytes; None when it does not exist.

        A tenant writes these, so no more than `cap` (+1, to tell) bytes are ever held: the body is read from the
        response stream, uncompressed (Accept-Encoding: identity, so nothing is inflated), and the connection
        dropped past the cap. TooLargeError says so."""
        try:
            response: Any = self.core.read_namespaced_config_map(
                name,
                namespace,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
                _headers={"Accept-Encoding": "identity"},
            )
        except ApiException as err:
            if status_code(err) == 404:
                return None
            raise
        try:
            blob: bytes = response.read(cap + 1, decode_content=False)
        finally:
            response.close()
        if len(blob) > cap:
            raise TooLargeError(f"ConfigMap {name} is larger than {cap} bytes")
        return blob

    # -- events ---------------------------------------------------------------------------------------------------

    def event(self, involved: Mapping[str, Any], kind: EventType, reason: str, message: str) -> None:
        """A core/v1 Event on the run (or schedule); losing one is logged, never fatal to the run."""
        meta = involved["metadata"]
        now = datetime.now(UTC)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}",
                kind=involved.get("kind", TRAINING_KIND),
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
