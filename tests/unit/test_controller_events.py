import ast
import inspect
import itertools

import pytest

from retrodiction.api.status import Phase
from retrodiction.controller import events
from retrodiction.controller.conditions import MAX_MESSAGE_CHARS
from retrodiction.controller.events import event_for
from retrodiction.identity import WARNING_REASONS, EventReason


@pytest.mark.parametrize(
    ("from_phase", "to_phase", "expected"),
    [
        (Phase.PENDING, Phase.PROVISIONING, ("Normal", "ClusterCreating")),
        (Phase.SUSPENDED, Phase.PROVISIONING, ("Normal", "RunResumed")),
        (Phase.PROVISIONING, Phase.RUNNING, ("Normal", "RunStarted")),
        (Phase.RUNNING, Phase.SUCCEEDED, ("Normal", "RunSucceeded")),
        (Phase.RUNNING, Phase.FAILED, ("Warning", "RunFailed")),
        (Phase.RUNNING, Phase.SUSPENDED, ("Normal", "RunSuspended")),
    ],
)
def test_a_phase_change_picks_a_stable_reason(from_phase: Phase, to_phase: Phase, expected: tuple[str, str]) -> None:
    event = event_for(from_phase, to_phase, "SomethingInternal")
    assert event is not None
    assert event[:2] == expected
    assert str(to_phase) in event[2]


def test_a_known_reason_names_the_event_and_failures_are_warnings() -> None:
    assert event_for(Phase.RUNNING, Phase.FAILED, EventReason.DEADLINE_EXCEEDED, "deadline of 60s passed") == (
        "Warning",
        "DeadlineExceeded",
        "deadline of 60s passed",
    )
    assert event_for(None, Phase.FAILED, EventReason.INVALID_SPEC) == ("Warning", "InvalidSpec", "new run -> Failed")


def test_no_event_for_an_unchanged_phase_or_a_new_pending_run() -> None:
    assert event_for(Phase.RUNNING, Phase.RUNNING, "Progress") is None
    assert event_for(None, Phase.PENDING, "Created") is None


def test_event_messages_are_capped() -> None:
    event = event_for(Phase.RUNNING, Phase.FAILED, "Crash", "t" * 10_000)
    assert event is not None
    assert len(event[2]) == MAX_MESSAGE_CHARS


def test_every_reason_is_a_documented_camel_case_word() -> None:
    tree = ast.parse(inspect.getsource(EventReason))
    documented: set[str] = set()
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, following in itertools.pairwise(body):
        is_docstring = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and is_docstring:
            documented.add(EventReason[node.targets[0].id])
    assert set(EventReason) == documented
    assert set(EventReason) >= events.ANNOUNCED
    assert WARNING_REASONS <= events.ANNOUNCED
    for reason in EventReason:
        assert reason[0].isupper()
        assert reason.isalnum()


def test_event_reasons_keep_their_values() -> None:
    # Renaming a reason breaks users' field selectors and alerts: the values are pinned here on purpose.
    assert {reason.name: reason.value for reason in EventReason} == {
        "ACCEPTED": "Accepted",
        "QUEUED": "Queued",
        "CLUSTER_CREATING": "ClusterCreating",
        "CLUSTER_READY": "ClusterReady",
        "CLUSTER_FAILED": "ClusterFailed",
        "RUN_STARTED": "RunStarted",
        "BATCHES_FAILED": "BatchesFailed",
        "RUN_SUCCEEDED": "RunSucceeded",
        "RUN_FAILED": "RunFailed",
        "RUN_SUSPENDED": "RunSuspended",
        "RUN_RESUMED": "RunResumed",
        "SUMMARY_STORED": "SummaryStored",
        "INVALID_SPEC": "InvalidSpec",
        "DEADLINE_EXCEEDED": "DeadlineExceeded",
        "DELETED": "Deleted",
        "POLICY_VIOLATION": "PolicyViolation",
        "DRIVER_FAILED": "DriverFailed",
        "DRIVER_ERROR": "DriverError",
        "RUN_NOT_FOUND": "RunNotFound",
        "RUN_CREATED": "RunCreated",
        "RUN_REPLACED": "RunReplaced",
        "SLOTS_MISSED": "SlotsMissed",
        "TRIGGERED": "Triggered",
        "HISTORY_TRIMMED": "HistoryTrimmed",
        "INVALID_SCHEDULE": "InvalidSchedule",
        "FAILED_CREATE": "FailedCreate",
        "RUN_NAME_TAKEN": "RunNameTaken",
        "STARTING_DEADLINE_RAISED": "StartingDeadlineRaised",
    }
