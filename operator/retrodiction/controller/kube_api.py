"""The Kubernetes API calls the operator makes, as Protocols: controller/kube.py's KubernetesApi makes them against
the API server; unit tests pass an in-memory fake (tests/unit/fake_kube.py) that keeps objects in dicts.

Objects come back as the JSON dicts the API server sends (a run, a Job, a DaskCluster): what the operator reads of
them it parses where it reads it. What the operator writes of its own (status) goes in as typed patches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from retrodiction.api.schedule import ScheduleStatusPatch
from retrodiction.api.status import RunStatusPatch

EventType = Literal["Normal", "Warning"]


class Events(Protocol):
    def event(self, involved: Mapping[str, Any], kind: EventType, reason: str, message: str) -> None:
        """A core/v1 Event on a run or schedule; losing one is never fatal."""


class RunApi(Events, Protocol):
    """What a run's lifecycle (controller/lifecycle.py) and its TTL need."""

    def patch_run_status(self, namespace: str, name: str, patch: RunStatusPatch) -> None: ...

    def list_runs(self, namespace: str) -> list[dict[str, Any]]: ...

    def delete_run(self, namespace: str, name: str) -> None: ...

    def ensure_child(self, manifest: Mapping[str, Any], run_uid: str) -> dict[str, Any]: ...

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def suspend_job(self, namespace: str, name: str, suspend: bool) -> None: ...

    def get_dask_cluster(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def delete_dask_cluster(self, namespace: str, name: str) -> None: ...

    def read_configmap_capped(self, namespace: str, name: str, cap: int) -> bytes | None: ...


class ScheduleApi(Events, Protocol):
    """What a schedule's pass (controller/schedules.py) needs."""

    def list_runs(self, namespace: str) -> list[dict[str, Any]]: ...

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create_run(self, manifest: Mapping[str, Any]) -> bool: ...

    def delete_run(self, namespace: str, name: str) -> None: ...

    def patch_schedule_status(self, namespace: str, name: str, patch: ScheduleStatusPatch) -> None: ...


class KubeApi(RunApi, ScheduleApi, Protocol):
    """Everything the operator calls."""

    def ensure_peering(self, name: str, namespace: str | None) -> None: ...

    def flush_events(self, timeout: float = 10.0) -> None: ...
