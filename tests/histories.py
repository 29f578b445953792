"""Schedule histories for the trend tests: nightly slots built from realistic summaries, some of them failed."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from retrodiction.api.history import ScheduleHistory, slot_of, with_slot
from retrodiction.api.summary import parse_summary
from tests.unit.test_report_samples import MODELS, make_summary

START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
VARIABLES = ("gdp", "cpi", "unemp", "m1", "pop", "infl", "realint", "tbilrate")
REASON = "BackoffLimitExceeded: the driver ran out of memory"


def nightly_history(
    days: int = 7,
    *,
    failed: Collection[int] = (4,),
    variables: Sequence[str] = VARIABLES,
    models: Sequence[str] = MODELS,
    schedule: str = "nightly",
) -> ScheduleHistory:
    """One slot a night at 02:00 UTC from START, each from a summary of its own seed; the nights in `failed` are
    failed runs that stored nothing, as a driver killed before its summary leaves them."""
    history = ScheduleHistory(schedule=schedule)
    for day in range(days):
        when = START + timedelta(days=day)
        run = f"{schedule}-{day}"
        if day in failed:
            slot = slot_of(None, scheduled_time=when, run=run, run_uid=run, phase="Failed", reason=REASON)
        else:
            summary = parse_summary(make_summary(variables, models, seed=day))
            slot = slot_of(summary, scheduled_time=when, run=run, run_uid=run)
        history = with_slot(history, slot)
    return history
