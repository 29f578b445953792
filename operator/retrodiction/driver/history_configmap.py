"""A schedule's history ConfigMap (api/history.py), as each of its runs' drivers adds the run's slot.

The ConfigMap is the schedule's (its controller reference), so it goes with the schedule, not with the runs that
the schedule's history limits delete. Runs of one schedule may finish together (concurrencyPolicy Allow), so each
write replaces the version it read and starts again when another driver wrote in between. A history that is not
one (written by someone else) is started afresh rather than trusted; a ConfigMap of that name that the schedule
does not control is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from retrodiction.api.children import ScheduleRef, run_label_value, schedule_of, scheduled_time, suffixed_name
from retrodiction.api.errors import format_validation_error
from retrodiction.api.history import (
    HISTORY_KEY,
    MAX_HISTORY_BYTES,
    HistorySlot,
    ScheduleHistory,
    slot_of,
    with_slot,
)
from retrodiction.api.summary import RetrodictionSummary
from retrodiction.identity import (
    API_VERSION,
    COMPONENT_HISTORY,
    COMPONENT_LABEL,
    SCHEDULE_KIND,
    SCHEDULE_LABEL,
)
from retrodiction.kube_client import status_code
from retrodiction.ownership import NotOwnedError, controlled_by, owner_reference

log = logging.getLogger(__name__)

# Writers that lost a race read again; more than this many lost races in a row is not a race.
ATTEMPTS: Final = 8


def history_configmap_name(schedule_name: str) -> str:
    return suffixed_name(schedule_name, "-history")


def history_configmap(namespace: str, schedule: ScheduleRef, history: ScheduleHistory) -> dict[str, Any]:
    """The ConfigMap holding `history`, controlled by the schedule."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": history_configmap_name(schedule.name),
            "namespace": namespace,
            "labels": {SCHEDULE_LABEL: run_label_value(schedule.name), COMPONENT_LABEL: COMPONENT_HISTORY},
            "ownerReferences": [
                owner_reference(
                    API_VERSION, SCHEDULE_KIND, {"name": schedule.name, "uid": schedule.uid}, block_owner_deletion=False
                )
            ],
        },
        "data": {HISTORY_KEY: history.to_json()},
    }


def history_in(configmap: Mapping[str, Any]) -> ScheduleHistory:
    """The history a ConfigMap holds (anyone who writes ConfigMaps in the namespace may have written it, so it is
    capped and validated); ValueError, one line, when it holds none."""
    text = (configmap.get("data") or {}).get(HISTORY_KEY)
    if not isinstance(text, str) or len(text) > 2 * MAX_HISTORY_BYTES:
        raise ValueError(f"its history ConfigMap holds no history of at most {2 * MAX_HISTORY_BYTES} bytes")
    try:
        return ScheduleHistory.model_validate_json(text)
    except ValidationError as err:
        raise ValueError(f"its history is not valid: {format_validation_error(err)}") from None


def read_history(configmap: Mapping[str, Any], schedule: ScheduleRef) -> ScheduleHistory:
    """The history a ConfigMap holds; a fresh one when it holds none this writer can trust (too large, invalid,
    another schedule's)."""
    fresh = ScheduleHistory(schedule=schedule.name, schedule_uid=schedule.uid)
    try:
        history = history_in(configmap)
    except ValueError as err:
        log.warning("the schedule's history is unusable (%s); starting it again", err)
        return fresh
    return history if history.schedule_uid == schedule.uid else fresh


class HistoryApi(Protocol):
    def read_configmap(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create_configmap(self, manifest: Mapping[str, Any]) -> None: ...

    def replace_configmap(self, manifest: Mapping[str, Any]) -> None: ...


def record_slot(api: HistoryApi, namespace: str, schedule: ScheduleRef, slot: HistorySlot) -> None:
    """Add `slot` to the schedule's history, created when missing. NotOwnedError when the name is taken by a
    ConfigMap the schedule does not control; RuntimeError after ATTEMPTS lost races."""
    name = history_configmap_name(schedule.name)
    for _ in range(ATTEMPTS):
        existing = api.read_configmap(namespace, name)
        base = ScheduleHistory(schedule=schedule.name, schedule_uid=schedule.uid)
        if existing is not None:
            if not controlled_by(existing, schedule.uid):
                raise NotOwnedError(f"ConfigMap {name} exists and is not the schedule's")
            base = read_history(existing, schedule)
        manifest = history_configmap(namespace, schedule, with_slot(base, slot))
        try:
            if existing is None:
                api.create_configmap(manifest)
            else:
                # The version read: the API server refuses the write if another driver wrote since.
                manifest["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
                api.replace_configmap(manifest)
            return
        except ApiException as err:
            if status_code(err) != 409:
                raise
    raise RuntimeError(f"ConfigMap {name} changed under every one of {ATTEMPTS} writes")


class HistoryRecorder:
    """Adds this run's slot to its schedule's history, once, when the run ends; a run no schedule made has none.

    A slot that cannot be written is logged, never a reason to fail the run: the results are in its summary."""

    def __init__(self, api: HistoryApi, run_meta: Mapping[str, Any]) -> None:
        self.api = api
        self.run_meta = run_meta
        self.schedule = schedule_of(run_meta)
        self.recorded = False

    def record(
        self,
        summary: RetrodictionSummary | None,
        *,
        phase: Literal["Succeeded", "Failed"],
        reason: str | None = None,
        summary_config_map: str | None = None,
        summary_uri: str | None = None,
    ) -> None:
        if self.schedule is None or self.recorded:
            return
        self.recorded = True
        slot = slot_of(
            summary,
            scheduled_time=scheduled_time({"metadata": self.run_meta}) or datetime.now(UTC),
            run=str(self.run_meta.get("name")),
            run_uid=str(self.run_meta.get("uid")),
            phase=phase,
            reason=reason,
            summary_config_map=summary_config_map,
            summary_uri=summary_uri,
        )
        try:
            record_slot(self.api, str(self.run_meta.get("namespace")), self.schedule, slot)
        except (ApiException, NotOwnedError, RuntimeError, ValueError) as err:
            log.warning("could not add this run to the history of schedule %s: %s", self.schedule.name, err)
