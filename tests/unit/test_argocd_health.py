"""The Argo CD health checks under docs/argocd, run in a Lua 5.1 interpreter shaped like Argo CD's.

Training statuses are built with the operator's own status writer (controller/status.py), so a change in what the
operator writes shows up here. Schedule statuses use the fields and conditions controller/schedules.py writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from retrodiction.api.report import DriverReport, DriverState, ReportedBatches
from retrodiction.api.status import Phase
from retrodiction.controller.status import PhaseChange, progress_patch, read_status, transition
from tests.unit.fake_kube import merge_patch

DOCS = Path(__file__).resolve().parents[2] / "docs" / "argocd"
TRAINING_CHECK = DOCS / "health-retrodictiontraining.lua"
SCHEDULE_CHECK = DOCS / "health-retrodictionschedule.lua"
# The argocd-cm keys, one per (group, kind).
CHECKS = {
    "resource.customizations.health.training.retrodiction.dev_RetrodictionTraining": TRAINING_CHECK,
    "resource.customizations.health.training.retrodiction.dev_RetrodictionSchedule": SCHEDULE_CHECK,
}
# What Argo CD accepts from a health script; anything else becomes Unknown ("invalid health status").
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def health(check: Path, obj: Mapping[str, Any]) -> tuple[str, str]:
    """Run a check as Argo CD does: `obj` global, the chunk's return value is the result."""
    lua = lua51.LuaRuntime()
    # Argo CD (gopher-lua, Lua 5.1) opens only base, package, table and a cut-down os for custom checks. Taking the
    # rest away makes a check that relies on string.format, a string method or math fail here as it would there.
    lua.execute("debug.setmetatable('', nil); string, math, io, debug, coroutine, os, python = nil")
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(check.read_text())
    status, message = result["status"], result["message"]
    assert status in ARGO_STATUSES
    assert isinstance(message, str)
    return status, message


# -- RetrodictionTraining ----------------------------------------------------------------------------------------


def training(status: Mapping[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "training.retrodiction.dev/v1alpha1",
        "kind": "RetrodictionTraining",
        "metadata": {"name": "macrodata", "namespace": "default", "generation": generation},
        "spec": {"variables": ["realgdp"], "window": {"start": "1990-01-01T00:00:00Z", "end": "2009-10-01T00:00:00Z"}},
    }
    if status is not None:
        obj["status"] = dict(status)
    return obj


def advance(status: Mapping[str, Any], to: Phase, reason: str, message: str, generation: int = 1) -> dict[str, Any]:
    patch = transition(read_status(status), PhaseChange(to, reason, message, generation), NOW)
    return merge_patch(status, patch.to_patch())


def progressed(status: Mapping[str, Any], succeeded: int, total: int, eta: int | None) -> dict[str, Any]:
    report = DriverReport(
        run_uid="uid",
        state=DriverState.RUNNING,
        updated=NOW,
        batches=ReportedBatches(total=total, succeeded=succeeded, running=2),
        completed_percentage=round(100.0 * succeeded / total, 2),
        estimated_remaining_seconds=eta,
    )
    return merge_patch(status, progress_patch(report, now=NOW).to_patch())


def pending() -> dict[str, Any]:
    return advance({}, Phase.PENDING, "Planning", "reading the time axis of builtin://macrodata to plan batches")


def provisioning() -> dict[str, Any]:
    message = "40 batches planned; starting a Dask cluster (kubernetes mode, 2 worker(s))"
    return advance(pending(), Phase.PROVISIONING, "ClusterCreating", message)


def running() -> dict[str, Any]:
    return advance(provisioning(), Phase.RUNNING, "RunStarted", "40 batches on tcp://macrodata-scheduler:8786")


def test_a_run_without_status_is_progressing_until_the_operator_starts_it() -> None:
    assert health(TRAINING_CHECK, training()) == ("Progressing", "Waiting for the operator to start the run")
    assert health(TRAINING_CHECK, training({})) == ("Progressing", "Waiting for the operator to start the run")


def test_pending_and_provisioning_are_progressing_with_the_operators_message() -> None:
    assert health(TRAINING_CHECK, training(pending())) == (
        "Progressing",
        "Pending: reading the time axis of builtin://macrodata to plan batches",
    )
    assert health(TRAINING_CHECK, training(provisioning())) == (
        "Progressing",
        "Provisioning: 40 batches planned; starting a Dask cluster (kubernetes mode, 2 worker(s))",
    )


def test_running_is_progressing_with_batches_percentage_and_time_left() -> None:
    status = progressed(running(), succeeded=12, total=40, eta=96)
    assert health(TRAINING_CHECK, training(status)) == (
        "Progressing",
        "Running: 40 batches on tcp://macrodata-scheduler:8786 (12/40 batches, 30%, about 96s left)",
    )


def test_running_shows_a_fractional_percentage_and_no_estimate_when_there_is_none() -> None:
    status = progressed(running(), succeeded=1, total=3, eta=None)
    assert health(TRAINING_CHECK, training(status)) == (
        "Progressing",
        "Running: 40 batches on tcp://macrodata-scheduler:8786 (1/3 batches, 33.33%)",
    )


def test_succeeded_is_healthy_with_the_final_counts() -> None:
    status = advance(progressed(running(), 40, 40, 0), Phase.SUCCEEDED, "RunSucceeded", "40/40 batches")
    assert health(TRAINING_CHECK, training(status)) == ("Healthy", "Succeeded: 40/40 batches")


def test_failed_is_degraded_with_reason_and_message() -> None:
    message = "3 of 40 batches failed (maxFailedBatches=0): ValueError: no data for realgdp"
    status = advance(running(), Phase.FAILED, "BatchesFailed", message)
    assert health(TRAINING_CHECK, training(status)) == ("Degraded", f"Failed (BatchesFailed): {message}")


def test_failed_without_reason_or_message_is_still_degraded() -> None:
    assert health(TRAINING_CHECK, training({"phase": "Failed"})) == ("Degraded", "Failed")
    assert health(TRAINING_CHECK, training({"phase": "Failed", "reason": "RunFailed"})) == (
        "Degraded",
        "Failed (RunFailed)",
    )


def test_suspended_is_suspended_with_the_progress_kept() -> None:
    status = advance(
        progressed(running(), 12, 40, 95), Phase.SUSPENDED, "RunSuspended", "suspended; finished batches are kept"
    )
    assert health(TRAINING_CHECK, training(status)) == (
        "Suspended",
        "Suspended: suspended; finished batches are kept (12/40 batches, 30%, about 95s left)",
    )


@pytest.mark.parametrize("status", [running(), advance(running(), Phase.SUSPENDED, "RunSuspended", "suspended")])
def test_an_unfinished_run_with_an_older_observed_generation_is_progressing(status: dict[str, Any]) -> None:
    # e.g. spec.execution.suspend was just flipped and the operator has not acted on it yet.
    assert health(TRAINING_CHECK, training(status, generation=2)) == (
        "Progressing",
        "Waiting for the operator to observe generation 2 (status is for generation 1)",
    )


def test_a_finished_run_edited_afterwards_keeps_its_final_health() -> None:
    # The operator never re-observes a finished run, so observedGeneration stays behind for good.
    succeeded = advance(running(), Phase.SUCCEEDED, "RunSucceeded", "40/40 batches")
    failed = advance(running(), Phase.FAILED, "InvalidSpec", "spec.window: end must be after start")
    assert health(TRAINING_CHECK, training(succeeded, generation=5))[0] == "Healthy"
    assert health(TRAINING_CHECK, training(failed, generation=5))[0] == "Degraded"


def test_the_observed_generation_is_not_compared_when_either_side_is_missing() -> None:
    obj = training(running())
    del obj["metadata"]["generation"]
    assert health(TRAINING_CHECK, obj)[0] == "Progressing"
    assert health(TRAINING_CHECK, obj)[1].startswith("Running: ")
    status = {key: value for key, value in running().items() if key != "observedGeneration"}
    assert health(TRAINING_CHECK, training(status, generation=3))[1].startswith("Running: ")


def test_an_unknown_phase_is_progressing_and_named() -> None:
    assert health(TRAINING_CHECK, training({"phase": "Paused"})) == ("Progressing", "Unrecognised phase Paused")


@pytest.mark.parametrize(
    "obj",
    [{}, {"metadata": {}}, {"status": {"phase": "Running"}}, {"status": {"phase": "Suspended", "progress": "1/2"}}],
)
def test_training_check_survives_objects_with_fields_missing(obj: dict[str, Any]) -> None:
    health(TRAINING_CHECK, obj)


# -- RetrodictionSchedule ----------------------------------------------------------------------------------------


def schedule(status: Mapping[str, Any] | None = None, suspend: bool = False, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "training.retrodiction.dev/v1alpha1",
        "kind": "RetrodictionSchedule",
        "metadata": {"name": "demand-nightly", "namespace": "default", "generation": generation},
        "spec": {"schedule": "30 2 * * *", "suspend": suspend, "template": {"spec": {"variables": ["demand"]}}},
    }
    if status is not None:
        obj["status"] = dict(status)
    return obj


SCHEDULED = {
    "observedGeneration": 1,
    "lastScheduleTime": "2024-05-01T02:30:00Z",
    "nextScheduleTime": "2024-05-02T02:30:00Z",
    "lastSuccessfulTime": "2024-04-30T02:41:12Z",
    "active": [{"kind": "RetrodictionTraining", "name": "demand-nightly-28577550", "namespace": "default"}],
}
INVALID = {
    "type": "Invalid",
    "status": "True",
    "reason": "InvalidSchedule",
    "message": "spec.schedule: expected 5 fields, found 4",
    "lastTransitionTime": "2024-05-01T02:00:00Z",
}


def test_a_schedule_without_status_is_progressing_until_the_operator_picks_it_up() -> None:
    assert health(SCHEDULE_CHECK, schedule()) == ("Progressing", "Waiting for the operator to pick up the schedule")


def test_a_scheduling_schedule_is_healthy_and_tells_last_and_next_times() -> None:
    assert health(SCHEDULE_CHECK, schedule(SCHEDULED)) == (
        "Healthy",
        "Scheduling: last run scheduled at 2024-05-01T02:30:00Z; next at 2024-05-02T02:30:00Z; 1 active; "
        "last success at 2024-04-30T02:41:12Z",
    )


def test_a_schedule_that_has_not_fired_yet_is_healthy() -> None:
    status = {"observedGeneration": 1, "nextScheduleTime": "2024-05-02T02:30:00Z", "active": []}
    assert health(SCHEDULE_CHECK, schedule(status)) == (
        "Healthy",
        "Scheduling: no run scheduled yet; next at 2024-05-02T02:30:00Z",
    )


def test_a_schedule_whose_last_run_failed_is_still_healthy() -> None:
    # The failed run is a RetrodictionTraining of its own and reports Degraded there.
    status = {**SCHEDULED, "active": [], "lastSuccessfulTime": "2024-04-29T02:40:00Z"}
    assert health(SCHEDULE_CHECK, schedule(status)) == (
        "Healthy",
        "Scheduling: last run scheduled at 2024-05-01T02:30:00Z; next at 2024-05-02T02:30:00Z; "
        "last success at 2024-04-29T02:40:00Z",
    )


def test_a_suspended_schedule_is_suspended_even_before_the_operator_saw_it() -> None:
    assert health(SCHEDULE_CHECK, schedule(suspend=True)) == ("Suspended", "Suspended: no run scheduled yet")
    assert health(SCHEDULE_CHECK, schedule(SCHEDULED, suspend=True))[1] == (
        "Suspended: last run scheduled at 2024-05-01T02:30:00Z; next at 2024-05-02T02:30:00Z; 1 active; "
        "last success at 2024-04-30T02:41:12Z"
    )


def test_suspension_is_reported_before_a_broken_condition() -> None:
    # As for CronJob upstream: suspended is what the user asked for; the error shows again on resume.
    status = {**SCHEDULED, "conditions": [INVALID]}
    assert health(SCHEDULE_CHECK, schedule(status, suspend=True))[0] == "Suspended"


@pytest.mark.parametrize("condition_type", ["Invalid", "Failed"])
def test_a_schedule_with_a_broken_condition_is_degraded_with_its_message(condition_type: str) -> None:
    status = {**SCHEDULED, "conditions": [{"type": "Ready", "status": "True"}, {**INVALID, "type": condition_type}]}
    assert health(SCHEDULE_CHECK, schedule(status)) == (
        "Degraded",
        f"{condition_type} (InvalidSchedule): spec.schedule: expected 5 fields, found 4",
    )


def test_a_broken_condition_that_is_false_does_not_degrade() -> None:
    status = {**SCHEDULED, "conditions": [{**INVALID, "status": "False"}]}
    assert health(SCHEDULE_CHECK, schedule(status))[0] == "Healthy"


def test_a_schedule_with_an_older_observed_generation_is_progressing_whatever_its_conditions() -> None:
    # The user fixed the cron expression; the Invalid condition is about the previous spec.
    status = {**SCHEDULED, "conditions": [INVALID]}
    assert health(SCHEDULE_CHECK, schedule(status, generation=2)) == (
        "Progressing",
        "Waiting for the operator to observe generation 2 (status is for generation 1)",
    )


@pytest.mark.parametrize(
    "obj",
    [{}, {"status": {}}, {"spec": {}, "status": {"conditions": [{}]}}, {"status": {"active": [{}, {}]}}],
)
def test_schedule_check_survives_objects_with_fields_missing(obj: dict[str, Any]) -> None:
    health(SCHEDULE_CHECK, obj)


# -- the README's copies -----------------------------------------------------------------------------------------


def embedded_checks(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) under a health-customisation key, wherever it sits in a YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).startswith("resource.customizations.health."):
                yield str(key), value
            else:
                yield from embedded_checks(value)
    elif isinstance(node, list):
        for item in node:
            yield from embedded_checks(item)


def test_the_readme_snippets_embed_exactly_the_lua_files() -> None:
    readme = (DOCS / "README.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", readme, flags=re.MULTILINE | re.DOTALL)
    embedded = [pair for block in blocks for doc in yaml.safe_load_all(block) for pair in embedded_checks(doc)]
    # Both checks, in the argocd-cm ConfigMap and in the argo-cd Helm chart's values.
    assert sorted(key for key, _ in embedded) == sorted(list(CHECKS) * 2)
    for key, value in embedded:
        assert value == CHECKS[key].read_text(), f"the README's {key} differs from {CHECKS[key].name}"
