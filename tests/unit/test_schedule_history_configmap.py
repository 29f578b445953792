"""Each run of a schedule adds its slot to the schedule's history ConfigMap: created, replaced at the version
read (retrying when another run wrote in between), never taken over from someone else, never failing the run."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from retrodiction.api.children import ScheduleRef, schedule_of
from retrodiction.api.history import HISTORY_KEY, ScheduleHistory, slot_of
from retrodiction.api.summary import parse_summary
from retrodiction.driver.history_configmap import (
    HistoryRecorder,
    history_configmap,
    history_configmap_name,
    read_history,
    record_slot,
)
from retrodiction.ownership import NotOwnedError
from tests.unit.test_report_samples import make_summary

SCHEDULE = ScheduleRef("nightly", "sched-uid")
OWNER = {
    "apiVersion": "training.retrodiction.dev/v1alpha1",
    "kind": "RetrodictionSchedule",
    "name": "nightly",
    "uid": "sched-uid",
    "controller": True,
}


def run_meta(day: int, owner: Mapping[str, Any] | None = OWNER) -> dict[str, Any]:
    return {
        "name": f"nightly-{day}",
        "namespace": "team-a",
        "uid": f"run-{day}",
        "annotations": {"training.retrodiction.dev/scheduled-time": f"2026-11-0{day}T02:00:00Z"},
        "ownerReferences": [dict(owner)] if owner else [],
    }


class ConfigMaps:
    """The API server's ConfigMaps with resourceVersions; `conflicts` writes are refused with 409 first."""

    def __init__(self, conflicts: int = 0) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.conflicts = conflicts
        self.version = 0

    def read_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get(name)
        return copy.deepcopy(found) if found else None

    def _store(self, manifest: Mapping[str, Any]) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise ApiException(status=409, reason="Conflict")
        self.version += 1
        stored = copy.deepcopy(dict(manifest))
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[stored["metadata"]["name"]] = stored

    def create_configmap(self, manifest: Mapping[str, Any]) -> None:
        if manifest["metadata"]["name"] in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        self._store(manifest)

    def replace_configmap(self, manifest: Mapping[str, Any]) -> None:
        current = self.objects[manifest["metadata"]["name"]]
        if manifest["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        self._store(manifest)

    def history(self) -> ScheduleHistory:
        return ScheduleHistory.model_validate_json(self.objects["nightly-history"]["data"][HISTORY_KEY])


SUMMARY = parse_summary(make_summary(("gdp", "cpi"), horizons=(1,)))


def _slot(day: int) -> Any:
    return slot_of(SUMMARY, scheduled_time=f"2026-11-0{day}T02:00:00Z", run=f"nightly-{day}", run_uid=f"run-{day}")


def test_a_run_a_schedule_made_names_the_schedule_and_a_run_made_by_hand_none() -> None:
    assert schedule_of(run_meta(1)) == SCHEDULE
    assert schedule_of(run_meta(1, owner=None)) is None
    assert schedule_of(run_meta(1, owner={**OWNER, "kind": "Deployment"})) is None
    assert schedule_of(run_meta(1, owner={**OWNER, "apiVersion": "example.com/v1"})) is None


def test_the_history_configmap_is_the_schedules_and_survives_its_runs() -> None:
    manifest = history_configmap("team-a", SCHEDULE, ScheduleHistory(schedule="nightly", schedule_uid="sched-uid"))
    meta = manifest["metadata"]
    assert meta["name"] == history_configmap_name("nightly") == "nightly-history"
    assert meta["ownerReferences"] == [{**OWNER, "blockOwnerDeletion": False}]
    assert meta["labels"]["app.kubernetes.io/component"] == "history"


def test_the_first_slot_creates_the_history_and_later_ones_add_to_it() -> None:
    api = ConfigMaps()
    for day in (1, 2, 3):
        record_slot(api, "team-a", SCHEDULE, _slot(day))
    assert [slot.run for slot in api.history().slots] == ["nightly-1", "nightly-2", "nightly-3"]


def test_a_write_that_loses_a_race_reads_again_and_keeps_both_slots() -> None:
    api = ConfigMaps()
    record_slot(api, "team-a", SCHEDULE, _slot(1))
    api.conflicts = 2
    record_slot(api, "team-a", SCHEDULE, _slot(2))
    assert [slot.run for slot in api.history().slots] == ["nightly-1", "nightly-2"]


def test_endless_conflicts_give_up() -> None:
    api = ConfigMaps(conflicts=100)
    with pytest.raises(RuntimeError, match="changed under every one of"):
        record_slot(api, "team-a", SCHEDULE, _slot(1))


def test_a_configmap_of_that_name_the_schedule_does_not_control_is_left_alone() -> None:
    api = ConfigMaps()
    api.objects["nightly-history"] = {"metadata": {"name": "nightly-history", "resourceVersion": "1"}, "data": {}}
    with pytest.raises(NotOwnedError):
        record_slot(api, "team-a", SCHEDULE, _slot(1))
    assert api.objects["nightly-history"]["data"] == {}


@pytest.mark.parametrize(
    "text",
    ["{not json", '{"schedule": "nightly", "scheduleUid": "another", "slots": []}', "x" * (2 * 900 * 1024 + 1)],
    ids=["not-json", "another-schedules", "too-large"],
)
def test_a_history_that_cannot_be_trusted_is_started_again(text: str) -> None:
    configmap = {"metadata": {"ownerReferences": [OWNER]}, "data": {HISTORY_KEY: text}}
    assert read_history(configmap, SCHEDULE) == ScheduleHistory(schedule="nightly", schedule_uid="sched-uid")


def test_the_recorder_writes_one_slot_per_run_with_its_scheduled_time() -> None:
    api = ConfigMaps()
    recorder = HistoryRecorder(api, run_meta(4))
    recorder.record(SUMMARY, phase="Succeeded", summary_config_map="nightly-4-summary")
    recorder.record(None, phase="Failed", reason="RunFailed")  # the failure path after a stored summary
    (slot,) = api.history().slots
    assert (slot.run, slot.phase, slot.summary_config_map) == ("nightly-4", "Succeeded", "nightly-4-summary")
    assert slot.scheduled_time.isoformat() == "2026-11-04T02:00:00+00:00"


def test_a_run_no_schedule_made_writes_no_history() -> None:
    api = ConfigMaps()
    HistoryRecorder(api, run_meta(1, owner=None)).record(SUMMARY, phase="Succeeded")
    assert api.objects == {}


def test_a_history_that_cannot_be_written_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    api = ConfigMaps(conflicts=100)
    with caplog.at_level(logging.WARNING):
        HistoryRecorder(api, run_meta(1)).record(SUMMARY, phase="Succeeded")
    assert "could not add this run to the history of schedule nightly" in caplog.text
