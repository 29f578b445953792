from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from retrodiction.api.report import DriverReport, DriverState, ReportedBatches
from retrodiction.api.status import Phase, RetrodictionTrainingStatus
from retrodiction.controller.conditions import MAX_MESSAGE_CHARS
from retrodiction.controller.status import (
    MAX_STATUS_BYTES,
    PhaseChange,
    StatusThrottle,
    can_transition,
    progress_patch,
    read_status,
    status_size,
    transition,
)
from retrodiction.identity import RunCondition
from retrodiction.times import parse_rfc3339
from tests.unit.fake_kube import merge_patch

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _apply(status: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    return merge_patch(status, patch)


def _transition(status: Mapping[str, Any], change: PhaseChange, now: datetime) -> dict[str, Any]:
    """The patch as it goes on the wire, from a status as the API server stores it."""
    return transition(read_status(status), change, now).to_patch()


def _condition(conditions: list[dict[str, Any]], type: str) -> dict[str, Any] | None:
    return next((condition for condition in conditions if condition["type"] == type), None)


def _report(total: int, succeeded: int, failed: int = 0, **fields: Any) -> DriverReport:
    running = fields.pop("running", 0)
    resumed = fields.pop("resumed", 0)
    counts = ReportedBatches(total=total, succeeded=succeeded, failed=failed, running=running, resumed=resumed)
    return DriverReport(run_uid="uid", state=DriverState.RUNNING, updated=T0, batches=counts, **fields)


def _walk(*phases: Phase, generation: int = 1) -> dict[str, Any]:
    status: dict[str, Any] = {}
    for i, phase in enumerate(phases):
        status = _apply(
            status,
            _transition(status, PhaseChange(phase, "Because", f"to {phase}", generation), T0 + timedelta(minutes=i)),
        )
    return status


def _statuses(status: Mapping[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((Phase.PENDING,), {"ClusterReady": "False", "Running": "False", "Complete": "False", "Failed": "False"}),
        ((Phase.PENDING, Phase.PROVISIONING), {"ClusterReady": "False", "Running": "False"}),
        (
            (Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING),
            {"ClusterReady": "True", "Running": "True", "Complete": "False", "Failed": "False", "Suspended": "False"},
        ),
        (
            (Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING, Phase.SUCCEEDED),
            {"ClusterReady": "False", "Running": "False", "Complete": "True", "Failed": "False", "Suspended": "False"},
        ),
        (
            (Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING, Phase.FAILED),
            {"Running": "False", "Complete": "False", "Failed": "True"},
        ),
        (
            (Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING, Phase.SUSPENDED),
            {"ClusterReady": "False", "Running": "False", "Suspended": "True", "Complete": "False"},
        ),
        (
            (Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING, Phase.SUSPENDED, Phase.PROVISIONING),
            {"Running": "False", "Suspended": "False", "ClusterReady": "False"},
        ),
    ],
)
def test_conditions_follow_the_phase(path: tuple[Phase, ...], expected: dict[str, str]) -> None:
    status = _walk(*path)
    assert status["phase"] == path[-1]
    actual = _statuses(status)
    assert set(actual) == {str(t) for t in RunCondition}
    for condition_type, wanted in expected.items():
        assert actual[condition_type] == wanted, condition_type


def test_the_phase_condition_carries_the_transition_reason_and_message() -> None:
    status = _walk(Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING)
    patch = _transition(status, PhaseChange(Phase.SUCCEEDED, "AllBatchesDone", "40/40", 2), T0)
    complete = _condition(patch["conditions"], "Complete")
    assert complete is not None
    assert (complete["reason"], complete["message"], complete["observedGeneration"]) == ("AllBatchesDone", "40/40", 2)
    assert (patch["phase"], patch["reason"], patch["message"], patch["observedGeneration"]) == (
        "Succeeded",
        "AllBatchesDone",
        "40/40",
        2,
    )


def test_an_unchanged_condition_keeps_its_reason_and_transition_time() -> None:
    status = _walk(Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING)
    before = _condition(status["conditions"], "Complete")
    status = _apply(status, _transition(status, PhaseChange(Phase.SUSPENDED, "Suspend", "", 1), T0))
    assert _condition(status["conditions"], "Complete") == before


def test_entering_running_stamps_the_primary_and_the_flipped_conditions_with_the_transition_time() -> None:
    status = _walk(Phase.PENDING, Phase.PROVISIONING)
    later = T0 + timedelta(hours=1)
    patch = _transition(status, PhaseChange(Phase.RUNNING, "ClusterUp", "3 workers", 2), later)
    conditions = patch["conditions"]
    # Running is the phase's primary condition: it carries the transition's reason and message.
    assert _condition(conditions, "Running") == {
        "type": "Running",
        "status": "True",
        "reason": "ClusterUp",
        "message": "3 workers",
        "lastTransitionTime": "2024-05-01T13:00:00Z",
        "observedGeneration": 2,
    }
    # ClusterReady flips False -> True alongside it, with a message of its own naming the phase.
    assert _condition(conditions, "ClusterReady") == {
        "type": "ClusterReady",
        "status": "True",
        "reason": "ClusterUp",
        "message": "run is Running",
        "lastTransitionTime": "2024-05-01T13:00:00Z",
        "observedGeneration": 2,
    }


def test_an_idempotent_running_to_running_rewrite_keeps_the_cluster_ready_condition() -> None:
    # ClusterReady became True when the run entered Running (the walk's third step, at 12:02).
    status = _walk(Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING)
    cluster_ready = {
        "type": "ClusterReady",
        "status": "True",
        "reason": "Because",
        "message": "run is Running",
        "lastTransitionTime": "2024-05-01T12:02:00Z",
        "observedGeneration": 1,
    }
    assert _condition(status["conditions"], "ClusterReady") == cluster_ready
    later = T0 + timedelta(hours=1)
    status = _apply(status, _transition(status, PhaseChange(Phase.RUNNING, "StillRunning", "12/40", 2), later))
    # Not the primary condition of Running, and its status does not change: reason, message and transition time stay.
    assert _condition(status["conditions"], "ClusterReady") == cluster_ready
    # The primary one follows the rewrite, but keeps its transition time since its status stays True.
    running = _condition(status["conditions"], "Running")
    assert running is not None
    assert (running["reason"], running["message"], running["lastTransitionTime"]) == (
        "StillRunning",
        "12/40",
        "2024-05-01T12:02:00Z",
    )


def test_status_times_the_operator_writes_read_back_as_aware_utc() -> None:
    status = _walk(Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING, Phase.SUCCEEDED)
    assert (status["startTime"], status["completionTime"]) == ("2024-05-01T12:02:00Z", "2024-05-01T12:03:00Z")
    stored = read_status(status)
    assert stored.start_time == datetime(2024, 5, 1, 12, 2, tzinfo=UTC)
    assert stored.completion_time == datetime(2024, 5, 1, 12, 3, tzinfo=UTC)
    assert stored.completion_time is not None and stored.completion_time.utcoffset() == timedelta(0)
    # How the TTL and the schedule's history read a finished run's completionTime.
    assert parse_rfc3339(status["completionTime"]) == datetime(2024, 5, 1, 12, 3, tzinfo=UTC)


def test_a_malformed_status_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="completionTime"):
        read_status({"phase": "Succeeded", "completionTime": "yesterday"})
    # The right shape with an hour that does not exist.
    with pytest.raises(ValueError, match="hour"):
        parse_rfc3339("2024-05-01T25:00:00Z")


def test_start_time_is_set_on_the_first_running_only() -> None:
    status = _walk(Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING)
    assert status["startTime"] == "2024-05-01T12:02:00Z"
    later = T0 + timedelta(hours=1)
    status = _apply(status, _transition(status, PhaseChange(Phase.SUSPENDED, "S", "", 1), later))
    status = _apply(status, _transition(status, PhaseChange(Phase.PROVISIONING, "R", "", 1), later))
    patch = _transition(status, PhaseChange(Phase.RUNNING, "Again", "", 1), later)
    assert "startTime" not in patch
    assert "completionTime" not in patch


@pytest.mark.parametrize("end", [Phase.SUCCEEDED, Phase.FAILED])
def test_completion_time_is_set_when_the_run_finishes(end: Phase) -> None:
    status = _walk(Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING)
    patch = _transition(status, PhaseChange(end, "End", "", 1), T0 + timedelta(hours=2))
    assert patch["completionTime"] == "2024-05-01T14:00:00Z"


def test_writing_the_same_finished_phase_again_is_idempotent() -> None:
    status = _walk(Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING, Phase.SUCCEEDED)
    patch = _transition(status, PhaseChange(Phase.SUCCEEDED, "Because", "to Succeeded", 1), T0 + timedelta(days=1))
    assert "completionTime" not in patch
    assert _apply(status, patch) == status


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (Phase.SUCCEEDED, Phase.RUNNING),
        (Phase.SUCCEEDED, Phase.FAILED),
        (Phase.FAILED, Phase.PROVISIONING),
        (Phase.FAILED, Phase.SUSPENDED),
        (Phase.PENDING, Phase.RUNNING),
        (Phase.PENDING, Phase.SUCCEEDED),
        (Phase.PROVISIONING, Phase.SUCCEEDED),
        (Phase.SUSPENDED, Phase.RUNNING),
        (Phase.RUNNING, Phase.PENDING),
    ],
)
def test_illegal_transitions_raise(start: Phase, to: Phase) -> None:
    with pytest.raises(ValueError, match="illegal phase transition"):
        _transition({"phase": str(start)}, PhaseChange(to, "X", "", 1), T0)


@pytest.mark.parametrize(
    ("start", "to", "message"),
    [
        ({}, Phase.RUNNING, "illegal phase transition None -> Running"),
        ({}, Phase.SUCCEEDED, "illegal phase transition None -> Succeeded"),
        ({"phase": "Succeeded"}, Phase.RUNNING, "illegal phase transition Succeeded -> Running"),
    ],
)
def test_an_illegal_transition_names_both_phases_and_none_for_a_new_run(
    start: dict[str, Any], to: Phase, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        _transition(start, PhaseChange(to, "X", "", 1), T0)


@pytest.mark.parametrize("start", [None, Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING])
def test_suspend_is_allowed_from_every_unfinished_active_phase(start: Phase | None) -> None:
    assert can_transition(start, Phase.SUSPENDED)
    assert can_transition(start, Phase.FAILED)


def test_transition_caps_the_message() -> None:
    patch = _transition({}, PhaseChange(Phase.FAILED, "RunFailed", "e" * 50_000, 1), T0)
    assert len(patch["message"]) == MAX_MESSAGE_CHARS
    assert (_condition(patch["conditions"], "Failed") or {}).get("status") == "True"


def test_progress_patch_is_the_counters_of_the_drivers_report() -> None:
    report = _report(40, 10, 2, running=4, resumed=6, completed_percentage=30.0, estimated_remaining_seconds=13)
    assert progress_patch(report, now=T0).to_patch() == {
        "batches": {"total": 40, "succeeded": 10, "failed": 2, "running": 4, "resumed": 6},
        "progress": "12/40",
        "completedPercentage": 30.0,
        "estimatedRemainingSeconds": 13,
        "lastProgressTime": "2024-05-01T12:00:00Z",
    }


def test_progress_patch_clears_an_unknown_eta() -> None:
    # null removes the stale estimate under a merge patch.
    patch = progress_patch(_report(5000, 0), now=T0).to_patch()
    assert patch["estimatedRemainingSeconds"] is None
    assert patch["progress"] == "0/5000"


def test_a_finished_runs_progress_has_nothing_running_and_nothing_left() -> None:
    report = _report(40, 38, 2, running=3, completed_percentage=100.0, estimated_remaining_seconds=20)
    patch = progress_patch(report, now=T0, finished=True).to_patch()
    assert patch["batches"]["running"] == 0  # type: ignore[index]
    assert patch["estimatedRemainingSeconds"] == 0


def test_progress_patch_size_does_not_depend_on_the_batch_count() -> None:
    small = progress_patch(_report(4, 1, running=1, completed_percentage=25.0), now=T0).to_patch()
    big = progress_patch(_report(5000, 4000, 999, running=1, completed_percentage=99.98), now=T0).to_patch()
    assert status_size(big) - status_size(small) < 32


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_allows_one_progress_write_per_interval_over_a_busy_minute() -> None:
    clock = FakeClock()
    throttle = StatusThrottle(5.0, clock=clock)
    writes = 0
    for _ in range(5000):  # 5,000 batch completions spread over 60 s
        clock.now += 60.0 / 5000
        writes += throttle.should_write()
    assert writes <= 60 / 5.0 + 2
    assert writes >= 60 / 5.0 - 1


def test_throttle_lets_forced_writes_through_and_restarts_the_interval() -> None:
    clock = FakeClock()
    throttle = StatusThrottle(10.0, clock=clock)
    assert throttle.should_write()
    clock.now += 1
    assert not throttle.should_write()
    assert throttle.should_write(force=True)
    clock.now += 9.5
    assert not throttle.should_write()
    assert throttle.should_write(now=clock.now + 0.5)


def test_throttle_rejects_a_negative_interval() -> None:
    with pytest.raises(ValueError, match=r"^min_interval must be >= 0$"):
        StatusThrottle(-1)


def test_a_zero_interval_throttle_lets_every_update_through() -> None:
    clock = FakeClock()
    throttle = StatusThrottle(0, clock=clock)
    # Even several updates at the same instant.
    assert [throttle.should_write() for _ in range(5)] == [True] * 5
    clock.now += 0.001
    assert throttle.should_write()


def test_the_biggest_realistic_status_of_a_5000_batch_run_stays_small() -> None:
    huge = "boom " * 10_000
    status: dict[str, Any] = {}
    # Visit every phase so all five conditions exist, each with a capped, maximal message.
    for phase in (Phase.PENDING, Phase.PROVISIONING, Phase.RUNNING, Phase.SUSPENDED, Phase.PROVISIONING, Phase.RUNNING):
        status = _apply(status, _transition(status, PhaseChange(phase, "A" * 60, huge, 10**9), T0))
    report = _report(5000, 4000, running=1000, resumed=4000, completed_percentage=80.0, estimated_remaining_seconds=9)
    status = _apply(status, progress_patch(report, now=T0).to_patch())
    status = _apply(status, _transition(status, PhaseChange(Phase.FAILED, "BatchesFailed", huge, 10**9), T0))
    for condition in status["conditions"]:
        condition["message"] = "m" * MAX_MESSAGE_CHARS
    status["daskCluster"] = {
        "name": "n" * 63,
        "schedulerAddress": "tcp://" + "s" * 253 + ":8786",
        "dashboardURL": "http://" + "d" * 253 + ":8787/status",
    }
    status["summaryRef"] = {"configMap": "c" * 253, "uri": "s3://" + "u" * 2043}
    RetrodictionTrainingStatus.model_validate(status)
    assert status_size(status) < MAX_STATUS_BYTES
