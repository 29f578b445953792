"""A schedule's compact history: one slot per run, bounded in slots, cells and bytes, oldest detail dropped first."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from retrodiction.api.history import (
    MAX_SLOTS,
    HistorySlot,
    ScheduleHistory,
    model_means,
    slot_of,
    with_slot,
)
from retrodiction.api.summary import RetrodictionSummary, parse_summary
from retrodiction.report.compare import compare
from tests.unit.test_report_samples import make_summary

VARIABLES = [f"s{i:03d}" for i in range(40)]
START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def summary() -> RetrodictionSummary:
    return parse_summary(make_summary(VARIABLES, horizons=(1, 7)))


def _slot(summary: RetrodictionSummary | None, day: int, **fields: Any) -> HistorySlot:
    when = START + timedelta(days=day)
    return slot_of(summary, scheduled_time=when, run=f"nightly-{day}", run_uid=f"uid-{day}", **fields)


def test_a_slots_means_are_the_aggregate_diff_and_the_gauges_use(summary: RetrodictionSummary) -> None:
    slot = _slot(summary, 0)
    by_key = {(change.model, change.horizon): change for change in compare(summary, summary).changes}
    assert len(slot.means) == len(by_key) == 5 * 2
    for mean in slot.means:
        change = by_key[(mean.model, mean.horizon)]
        assert mean.variables == change.variables
        assert mean.trust == pytest.approx(change.a.mean, rel=1e-4)
        assert mean.lower == pytest.approx(change.a.lower, rel=1e-4)


def test_a_slot_keeps_trust_and_mae_of_every_cell_in_variable_model_horizon_order(summary: RetrodictionSummary) -> None:
    slot = _slot(summary, 0)
    assert (slot.variables, slot.horizons) == (VARIABLES, [1, 7])
    for result in summary.results:
        index = slot.cell(
            VARIABLES.index(result.variable), slot.models.index(result.model), slot.horizons.index(result.horizon)
        )
        assert slot.trust[index] == pytest.approx(result.trust.mean, rel=1e-4)
        assert slot.mae[index] == pytest.approx(result.mae, rel=1e-4)


def test_detail_past_the_cell_limit_keeps_the_first_variables_and_counts_the_rest(summary: RetrodictionSummary) -> None:
    slot = _slot(summary, 0, max_cells=100)  # 10 cells a variable: 10 variables
    assert slot.variables == VARIABLES[:10]
    assert slot.variables_left_out == 30
    assert sum(mean.variables for mean in slot.means if mean.horizon == 1) == 5 * 40  # the means cover them all


def test_a_failed_run_without_a_summary_has_a_slot_without_results() -> None:
    slot = _slot(None, 3, phase="Failed", reason="DataError")
    assert (slot.phase, slot.reason, slot.means, slot.trust) == ("Failed", "DataError", [], [])


def test_slots_stay_in_time_order_and_a_runs_slot_is_replaced_not_repeated(summary: RetrodictionSummary) -> None:
    history = ScheduleHistory(schedule="nightly")
    for day in (2, 0, 1):
        history = with_slot(history, _slot(summary, day))
    history = with_slot(history, _slot(None, 1, phase="Failed"))
    assert [(s.run, s.phase) for s in history.slots] == [
        ("nightly-0", "Succeeded"),
        ("nightly-1", "Failed"),
        ("nightly-2", "Succeeded"),
    ]


def test_only_the_newest_slots_are_kept() -> None:
    history = ScheduleHistory(schedule="nightly")
    for day in range(MAX_SLOTS + 5):
        history = with_slot(history, _slot(None, day))
    assert len(history.slots) == MAX_SLOTS
    assert history.slots[0].run == "nightly-5"


def test_past_the_byte_budget_older_slots_give_up_their_detail_first(summary: RetrodictionSummary) -> None:
    one = len(ScheduleHistory(schedule="nightly", slots=[_slot(summary, 0)]).to_json())
    history = ScheduleHistory(schedule="nightly")
    for day in range(4):
        history = with_slot(history, _slot(summary, day), max_bytes=int(2.5 * one))
    assert [bool(s.variables) for s in history.slots] == [False, False, True, True]
    assert [s.variables_left_out for s in history.slots] == [40, 40, 0, 0]
    assert all(s.means for s in history.slots)
    assert len(history.to_json()) <= 2.5 * one


def test_when_even_the_means_do_not_fit_the_oldest_slots_go(summary: RetrodictionSummary) -> None:
    bare = len(ScheduleHistory(schedule="nightly", slots=[_slot(summary, 0).without_detail()]).to_json())
    history = ScheduleHistory(schedule="nightly")
    for day in range(5):
        history = with_slot(history, _slot(summary, day), max_bytes=bare + 50)
    assert [(s.run, bool(s.variables)) for s in history.slots] == [("nightly-4", False)]


def test_a_slot_that_cannot_fit_at_all_is_refused(summary: RetrodictionSummary) -> None:
    with pytest.raises(ValueError, match="larger than 100 bytes even without its detail"):
        with_slot(ScheduleHistory(schedule="nightly"), _slot(summary, 0), max_bytes=100)


def test_the_history_reads_back_as_written(summary: RetrodictionSummary) -> None:
    history = with_slot(ScheduleHistory(schedule="nightly", schedule_uid="u"), _slot(summary, 0))
    assert ScheduleHistory.model_validate_json(history.to_json()) == history


@pytest.mark.parametrize(
    "change",
    [
        {"trust": [1.5]},
        {"trust": [0.5, 0.5]},
        {"kind": "RetrodictionSummary"},
        {"slots": [{}] * (MAX_SLOTS + 1)},
    ],
    ids=["trust-above-1", "cells-not-matching-axes", "other-kind", "too-many-slots"],
)
def test_a_history_written_by_someone_else_is_checked(change: dict[str, object]) -> None:
    slot: dict[str, Any] = {
        "scheduledTime": "2026-11-01T02:00:00Z",
        "run": "r",
        "phase": "Succeeded",
        "variables": ["x"],
        "models": ["naive"],
        "horizons": [1],
        "trust": [0.5],
        "mae": [1.0],
    }
    document: dict[str, Any] = {"schedule": "nightly", "slots": [slot]}
    if "trust" in change:
        slot["trust"] = change["trust"]
    else:
        document.update(change)
    with pytest.raises(ValidationError):
        ScheduleHistory.model_validate(document)


def test_model_means_leave_out_cells_without_a_scored_target(summary: RetrodictionSummary) -> None:
    unscored = summary.results[0].model_copy(update={"n": 0, "variable": "empty"})
    means = {(m.model, m.horizon): m.variables for m in model_means([*summary.results, unscored])}
    assert means[(unscored.model, unscored.horizon)] == 40
