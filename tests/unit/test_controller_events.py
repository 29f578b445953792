import ast
import inspect

import pytest

from retrodiction.api.status import Phase
from retrodiction.controller import events
from retrodiction.controller.conditions import MAX_MESSAGE_CHARS
from retrodiction.controller.events import event_for


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
    assert event_for(Phase.RUNNING, Phase.FAILED, events.DEADLINE_EXCEEDED, "deadline of 60s passed") == (
        "Warning",
        "DeadlineExceeded",
        "deadline of 60s passed",
    )
    assert event_for(None, Phase.FAILED, events.INVALID_SPEC) == ("Warning", "InvalidSpec", "new run -> Failed")


def test_no_event_for_an_unchanged_phase_or_a_new_pending_run() -> None:
    assert event_for(Phase.RUNNING, Phase.RUNNING, "Progress") is None
    assert event_for(None, Phase.PENDING, "Created") is None


def test_event_messages_are_capped() -> None:
    event = event_for(Phase.RUNNING, Phase.FAILED, "Crash", "t" * 10_000)
    assert event is not None
    assert len(event[2]) == MAX_MESSAGE_CHARS


def test_every_reason_is_a_documented_camel_case_constant() -> None:
    tree = ast.parse(inspect.getsource(events))
    documented: set[str] = set()
    for node, following in zip(tree.body, tree.body[1:], strict=False):
        is_docstring = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and is_docstring:
            documented.add(getattr(events, node.target.id))
    assert events.REASONS.issubset(documented)
    assert len(events.REASONS) == 16
    for reason in events.REASONS:
        assert reason[0].isupper()
        assert reason.isalnum()
