"""controller/kube_api.py's KubeApi in memory, for unit tests of a run's lifecycle, its TTL and a schedule's pass.

It keeps the rules of the API server the operator relies on: a create of a taken name is a conflict (runs) or an
adoption only when the run controls the object (children, with the same ownership rule as KubernetesApi), a
ConfigMap is read with the caller's byte cap, and every status write arrives as a typed merge patch, recorded in
the form it takes on the wire and applied to the stored object.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from retrodiction.api.schedule import ScheduleStatusPatch
from retrodiction.api.status import MergePatch, RunStatusPatch
from retrodiction.controller.kube import CreateRefusedError, TooLargeError
from retrodiction.controller.kube_api import EventType, KubeApi
from retrodiction.ownership import require_controlled_by


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386, as the API server applies a merge patch: objects merge key by key, null removes a key, anything
    else (lists included) replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_patch(merged[key], value)
        elif isinstance(value, Mapping):
            merged[key] = merge_patch({}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class InMemoryKube:
    def __init__(self) -> None:
        # RetrodictionTrainings by name (one namespace is enough for these tests), and the runs' children.
        self.runs: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.configmaps: dict[str, bytes] = {}
        self.created: list[tuple[str, str]] = []
        self.ensured: list[tuple[str, str]] = []
        self.deleted: list[str] = []
        self.deleted_clusters: list[str] = []
        self.suspended: list[bool] = []
        self.status_patches: list[dict[str, Any]] = []
        self.events: list[tuple[EventType, str, str]] = []
        self.peerings: list[tuple[str, str | None]] = []
        self.refusal: str | None = None  # every create of a run is refused with it while set (a quota)

    # -- runs ---------------------------------------------------------------------------------------------------

    def list_runs(self, namespace: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(run) for run in self.runs.values()]

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.runs.get(name))

    def create_run(self, manifest: Mapping[str, Any]) -> bool:
        if self.refusal is not None:
            raise CreateRefusedError(self.refusal)
        name = manifest["metadata"]["name"]
        if name in self.runs:
            return False
        self.runs[name] = copy.deepcopy(dict(manifest))
        self.created.append((str(manifest["kind"]), name))
        return True

    def delete_run(self, namespace: str, name: str) -> None:
        self.runs.pop(name, None)
        self.deleted.append(name)

    def patch_run_status(self, namespace: str, name: str, patch: RunStatusPatch) -> None:
        self._patch_status(self.runs.get(name), patch)

    def patch_schedule_status(self, namespace: str, name: str, patch: ScheduleStatusPatch) -> None:
        self._patch_status(None, patch)

    def _patch_status(self, stored: dict[str, Any] | None, patch: MergePatch) -> None:
        wire = patch.to_patch()
        self.status_patches.append(wire)
        if stored is not None:
            stored["status"] = merge_patch(stored.get("status") or {}, wire)

    # -- children -----------------------------------------------------------------------------------------------

    def ensure_child(self, manifest: Mapping[str, Any], run_uid: str) -> dict[str, Any]:
        key = (str(manifest["kind"]), str(manifest["metadata"]["name"]))
        self.ensured.append(key)
        existing = self.objects.get(key)
        if existing is not None:
            require_controlled_by(existing, run_uid)
            return copy.deepcopy(existing)
        self.objects[key] = copy.deepcopy(dict(manifest))
        self.created.append(key)
        return copy.deepcopy(dict(manifest))

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.objects.get(("Job", name)))

    def suspend_job(self, namespace: str, name: str, suspend: bool) -> None:
        self.suspended.append(suspend)
        if ("Job", name) in self.objects:
            self.objects["Job", name]["spec"]["suspend"] = suspend

    def get_dask_cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.objects.get(("DaskCluster", name)))

    def delete_dask_cluster(self, namespace: str, name: str) -> None:
        self.objects.pop(("DaskCluster", name), None)
        self.deleted_clusters.append(name)

    def put_configmap(self, name: str, configmap: Mapping[str, Any] | bytes) -> None:
        """A ConfigMap a tenant (a run's driver) wrote, as the API server would send it."""
        self.configmaps[name] = configmap if isinstance(configmap, bytes) else json.dumps(configmap).encode()

    def read_configmap_capped(self, namespace: str, name: str, cap: int) -> bytes | None:
        blob = self.configmaps.get(name)
        if blob is not None and len(blob) > cap:
            raise TooLargeError(f"ConfigMap {name} is larger than {cap} bytes")
        return blob

    # -- the rest -----------------------------------------------------------------------------------------------

    def event(self, involved: Mapping[str, Any], kind: EventType, reason: str, message: str) -> None:
        self.events.append((kind, reason, message))

    def ensure_peering(self, name: str, namespace: str | None) -> None:
        if (name, namespace) not in self.peerings:
            self.peerings.append((name, namespace))

    def flush_events(self, timeout: float = 10.0) -> None:
        return None

    # -- for the tests' assertions ------------------------------------------------------------------------------

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]

    def messages(self, reason: str) -> list[str]:
        return [message for _, said, message in self.events if said == reason]

    @property
    def created_runs(self) -> list[str]:
        return [name for kind, name in self.created if kind == "RetrodictionTraining"]

    def finish(self, name: str, phase: str, completed: str) -> None:
        """A run ends (its own operator pass would write this)."""
        self.runs[name]["status"] = {"phase": phase, "completionTime": completed}


def _conforms(api: InMemoryKube) -> KubeApi:
    # mypy proves here that the fake has every call of the Protocol, with the same signatures.
    return api
