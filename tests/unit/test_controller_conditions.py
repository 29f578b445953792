from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retrodiction.api.status import Condition, ConditionStatus
from retrodiction.controller.conditions import (
    MAX_MESSAGE_CHARS,
    ConditionUpdate,
    cap_message,
    get_condition,
    is_true,
    set_condition,
)
from retrodiction.times import rfc3339


def wire(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    """The conditions as a status patch sends them."""
    return [condition.model_dump(mode="json", by_alias=True, exclude_unset=True) for condition in conditions]


T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_a_new_condition_is_appended_with_its_transition_time() -> None:
    conditions = set_condition([], ConditionUpdate("Running", "True", "RunStarted", "go", 3), T0)
    assert wire(conditions) == [
        {
            "type": "Running",
            "status": "True",
            "reason": "RunStarted",
            "message": "go",
            "lastTransitionTime": "2024-05-01T12:00:00Z",
            "observedGeneration": 3,
        }
    ]


def test_transition_time_stays_when_status_is_unchanged_but_reason_and_message_follow() -> None:
    first = set_condition([], ConditionUpdate("Running", True, "RunStarted", "go", 1), T0)
    second = set_condition(first, ConditionUpdate("Running", True, "StillRunning", "12/40", 2), T1)
    assert wire(second)[0]["lastTransitionTime"] == rfc3339(T0)
    assert (wire(second)[0]["reason"], wire(second)[0]["message"], wire(second)[0]["observedGeneration"]) == (
        "StillRunning",
        "12/40",
        2,
    )


def test_transition_time_moves_when_status_flips() -> None:
    first = set_condition([], ConditionUpdate("Running", True, "RunStarted", "", 1), T0)
    second = set_condition(first, ConditionUpdate("Running", False, "RunSucceeded", "", 1), T1)
    assert wire(second)[0]["status"] == "False"
    assert wire(second)[0]["lastTransitionTime"] == rfc3339(T1)


def test_updating_a_condition_keeps_the_order_and_leaves_the_input_alone() -> None:
    conditions = set_condition([], ConditionUpdate("ClusterReady", True, "ClusterReady", ""), T0)
    conditions = set_condition(conditions, ConditionUpdate("Running", True, "RunStarted", ""), T0)
    conditions = set_condition(conditions, ConditionUpdate("Complete", False, "RunStarted", ""), T0)
    before = wire(conditions)
    updated = set_condition(conditions, ConditionUpdate("Running", False, "RunSucceeded", ""), T1)
    assert [c.type for c in updated] == ["ClusterReady", "Running", "Complete"]
    assert wire(conditions) == before


def test_a_long_message_is_capped() -> None:
    conditions = set_condition([], ConditionUpdate("Failed", True, "RunFailed", "x" * 100_000), T0)
    assert len(wire(conditions)[0]["message"]) == MAX_MESSAGE_CHARS
    assert wire(conditions)[0]["message"].endswith("…")
    assert cap_message("short") == "short"


def test_observed_generation_none_removes_a_stale_one() -> None:
    conditions = set_condition([], ConditionUpdate("Running", True, "RunStarted", "", 4), T0)
    assert (
        "observedGeneration"
        not in wire(set_condition(conditions, ConditionUpdate("Running", True, "RunStarted", "", None), T0))[0]
    )


@pytest.mark.parametrize("reason", ["", "has space", "1Leading", "trailing-dash", "x" * 1025])
def test_a_reason_that_metav1_would_reject_raises(reason: str) -> None:
    with pytest.raises(ValueError, match="reason"):
        set_condition([], ConditionUpdate("Running", True, reason, ""), T0)


def test_a_status_outside_true_false_unknown_raises() -> None:
    with pytest.raises(ValueError, match="status"):
        set_condition([], ConditionUpdate("Running", "yes", "RunStarted", ""), T0)  # type: ignore[arg-type]


def test_get_condition_and_is_true_read_by_type() -> None:
    conditions = set_condition([], ConditionUpdate("Complete", "True", "RunSucceeded", ""), T0)
    conditions = set_condition(conditions, ConditionUpdate("Failed", "Unknown", "Checking", ""), T0)
    found = get_condition(conditions, "Complete")
    assert found is not None
    assert found.reason == "RunSucceeded"
    assert get_condition(conditions, "Running") is None
    assert is_true(conditions, "Complete")
    assert not is_true(conditions, "Failed")
    assert not is_true(conditions, "Running")


def test_timestamps_are_utc_and_a_naive_time_is_taken_as_utc() -> None:
    aware = datetime(2024, 5, 1, 14, 0, 0, tzinfo=UTC).astimezone(tz=None)
    assert rfc3339(aware) == "2024-05-01T14:00:00Z"
    assert rfc3339(datetime(2024, 5, 1, 14, 0, 0)) == "2024-05-01T14:00:00Z"


def test_a_message_of_exactly_the_cap_is_kept_whole_and_one_more_character_is_cut() -> None:
    at_cap = "x" * MAX_MESSAGE_CHARS
    assert cap_message(at_cap) == at_cap
    # One over: the first 1023 characters and the ellipsis, 1024 in all.
    assert cap_message(at_cap + "y") == "x" * (MAX_MESSAGE_CHARS - 1) + "…"
    assert cap_message("abcd", limit=4) == "abcd"
    assert cap_message("abcde", limit=4) == "abc…"


def test_a_condition_without_a_generation_still_records_its_transition_time() -> None:
    conditions = set_condition([], ConditionUpdate("Complete", False, "RunStarted", ""), T0)
    assert wire(conditions) == [
        {
            "type": "Complete",
            "status": "False",
            "reason": "RunStarted",
            "message": "",
            "lastTransitionTime": "2024-05-01T12:00:00Z",
        }
    ]


@pytest.mark.parametrize("status", ["True", "False", "Unknown"])
def test_each_metav1_status_word_is_accepted_as_text(status: ConditionStatus) -> None:
    conditions = set_condition([], ConditionUpdate("Running", status, "Checking", ""), T0)
    assert wire(conditions)[0]["status"] == status


def test_a_reason_of_exactly_1024_characters_is_accepted() -> None:
    reason = "R" * 1024
    conditions = set_condition([], ConditionUpdate("Running", True, reason, ""), T0)
    assert wire(conditions)[0]["reason"] == reason
