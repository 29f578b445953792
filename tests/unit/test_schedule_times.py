"""The time logic of RetrodictionSchedule: slots in time zones and across daylight-saving changes, windows, and
which slots start under each catch-up and concurrency policy. `now` is always given: no test waits for a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from retrodiction.api.cron import Cron
from retrodiction.api.schedule import Alignment, RetrodictionScheduleSpec
from retrodiction.controller import schedule_times
from retrodiction.controller.schedule_times import (
    Slots,
    SlotState,
    decide,
    next_slot,
    run_window,
    slots_between,
    window_end,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def between(expression: str, zone: ZoneInfo, after: datetime, until: datetime, *, keep: int) -> Slots:
    return slots_between(Cron.parse(expression), zone, after, until, keep=keep)


def spec(**changes: Any) -> RetrodictionScheduleSpec:
    body: dict[str, Any] = {
        "schedule": "0 2 * * *",
        "template": {
            "spec": {"variables": ["cpi"], "window": {"lookback": "3650d"}, "data": {"uri": "builtin://macrodata"}}
        },
    }
    body.update(changes)
    return RetrodictionScheduleSpec.model_validate(body)


# --- slots ---------------------------------------------------------------------------------------------------------


def test_slots_are_the_cron_times_after_the_start_up_to_and_including_now() -> None:
    slots = between("0 * * * *", ZoneInfo("Etc/UTC"), utc("2026-01-01T00:00"), utc("2026-01-01T03:00"), keep=10)
    assert slots.newest == (utc("2026-01-01T01:00"), utc("2026-01-01T02:00"), utc("2026-01-01T03:00"))
    assert slots.count == 3


def test_a_daily_slot_keeps_its_wall_clock_time_across_daylight_saving_changes() -> None:
    slots = between("30 1 * * *", BERLIN, utc("2026-03-27T12:00"), utc("2026-03-31T12:00"), keep=10)
    # 01:30 CET is 00:30 UTC; the clocks go forward at 02:00 on March 29, so from March 30 on 01:30 CEST is 23:30
    # UTC the day before.
    assert slots.newest == (
        utc("2026-03-28T00:30"),
        utc("2026-03-29T00:30"),
        utc("2026-03-29T23:30"),
        utc("2026-03-30T23:30"),
    )


def test_a_wall_time_skipped_by_spring_forward_runs_the_gap_later_once() -> None:
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    slots = between("30 2 * * *", BERLIN, utc("2026-03-28T12:00"), utc("2026-03-30T12:00"), keep=10)
    assert slots.newest == (utc("2026-03-29T01:30"), utc("2026-03-30T00:30"))  # 03:30 CEST, then 02:30 CEST


def test_an_hourly_schedule_across_spring_forward_has_no_duplicate_instant() -> None:
    slots = between("30 * * * *", BERLIN, utc("2026-03-29T00:00"), utc("2026-03-29T03:00"), keep=10)
    assert slots.newest == (utc("2026-03-29T00:30"), utc("2026-03-29T01:30"), utc("2026-03-29T02:30"))


def test_a_wall_time_repeated_by_fall_back_runs_once_at_its_first_occurrence() -> None:
    # 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice.
    slots = between("30 2 * * *", BERLIN, utc("2026-10-24T12:00"), utc("2026-10-25T12:00"), keep=10)
    assert slots.newest == (utc("2026-10-25T00:30"),)  # 02:30 CEST


def test_weekday_schedules_follow_new_york_time() -> None:
    # 09:00 EST is 14:00 UTC; after March 8, 2026 09:00 EDT is 13:00 UTC.
    slots = between("0 9 * * MON-FRI", NEW_YORK, utc("2026-03-05T00:00"), utc("2026-03-10T00:00"), keep=10)
    assert slots.newest == (utc("2026-03-05T14:00"), utc("2026-03-06T14:00"), utc("2026-03-09T13:00"))
    assert next_slot(Cron.parse("0 9 * * MON-FRI"), NEW_YORK, utc("2026-03-06T14:00")) == utc("2026-03-09T13:00")


def test_counting_stops_at_a_bound_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule_times, "MAX_SLOTS_COUNTED", 50)
    slots = between("* * * * *", ZoneInfo("Etc/UTC"), utc("2026-01-01T00:00"), utc("2026-01-02T00:00"), keep=3)
    assert slots.count == 50 and slots.count_is_lower_bound
    assert slots.newest == (utc("2026-01-01T23:58"), utc("2026-01-01T23:59"), utc("2026-01-02T00:00"))


# --- windows -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("align", "end"),
    [
        (Alignment.SCHEDULED_TIME, "2026-05-20T04:30"),
        (Alignment.HOUR, "2026-05-20T04:00"),
        (Alignment.DAY, "2026-05-19T22:00"),  # midnight CEST
        (Alignment.WEEK, "2026-05-17T22:00"),  # Monday May 18, 00:00 CEST
        (Alignment.MONTH, "2026-04-30T22:00"),
        (Alignment.QUARTER, "2026-03-31T22:00"),
        (Alignment.YEAR, "2025-12-31T23:00"),  # January 1, 00:00 CET
    ],
)
def test_a_window_ends_at_the_slot_or_at_the_start_of_its_period_in_the_schedules_zone(
    align: Alignment, end: str
) -> None:
    assert window_end(utc("2026-05-20T04:30"), BERLIN, align) == utc(end)


def test_a_runs_window_is_the_lookback_before_its_aligned_end() -> None:
    schedule = spec(timeZone="Europe/Berlin")
    schedule = spec(
        timeZone="Europe/Berlin",
        template={**schedule.template.model_dump(by_alias=True), "spec": {
            **schedule.template.spec.model_dump(by_alias=True), "window": {"lookback": "8w", "alignTo": "Month"}
        }},
    )  # fmt: skip
    start, end = run_window(schedule, utc("2026-05-20T04:30"))
    assert end == utc("2026-04-30T22:00")
    assert end - start == timedelta(weeks=8)


# --- which slots start ---------------------------------------------------------------------------------------------

CREATED = utc("2026-06-01T00:00")


def days_later(days: int, hours: float = 0) -> datetime:
    return utc("2026-06-01T02:00") + timedelta(days=days, hours=hours)


def test_nothing_is_due_before_the_first_slot_and_the_next_one_is_known() -> None:
    decision = decide(spec(), SlotState(handled_through=None, created=CREATED, now=utc("2026-06-01T01:00"), active=0))
    assert decision.start == () and decision.missed == 0
    assert decision.next_time == utc("2026-06-01T02:00")


def test_a_slot_seen_on_time_starts_and_is_handled() -> None:
    decision = decide(spec(), SlotState(handled_through=None, created=CREATED, now=days_later(0, 0.01), active=0))
    assert decision.start == (days_later(0),)
    assert decision.handled_through == days_later(0)
    assert decision.next_time == days_later(1)


def test_a_handled_slot_never_starts_again_after_a_restart() -> None:
    decision = decide(spec(), SlotState(handled_through=days_later(0), created=CREATED, now=days_later(0, 5), active=0))
    assert decision.start == () and decision.missed == 0


def test_catch_up_latest_starts_only_the_newest_missed_slot() -> None:
    decision = decide(spec(), SlotState(handled_through=days_later(0), created=CREATED, now=days_later(5, 3), active=0))
    assert decision.start == (days_later(5),)
    assert decision.missed == 4 and decision.reasons == {"NotLatest": 4}
    assert decision.last_missed == days_later(4)
    assert decision.handled_through == days_later(5)


def test_catch_up_all_starts_every_missed_slot_up_to_the_limit_each_over_its_own_window() -> None:
    schedule = spec(catchUp={"policy": "All", "limit": 3})
    decision = decide(
        schedule, SlotState(handled_through=days_later(0), created=CREATED, now=days_later(5, 3), active=0)
    )
    assert decision.start == (days_later(3), days_later(4), days_later(5))
    assert decision.reasons == {"CatchUpLimit": 2}
    windows = [run_window(schedule, slot) for slot in decision.start]
    assert [end for _, end in windows] == list(decision.start)


def test_catch_up_none_skips_slots_the_operator_did_not_see_in_time() -> None:
    schedule = spec(catchUp={"policy": "None"})
    late = decide(schedule, SlotState(handled_through=days_later(0), created=CREATED, now=days_later(3, 0.5), active=0))
    assert late.start == () and late.missed == 3 and late.handled_through == days_later(3)
    on_time = decide(
        schedule, SlotState(handled_through=days_later(0), created=CREATED, now=days_later(3, 0.01), active=0)
    )
    assert on_time.start == (days_later(3),) and on_time.missed == 2


def test_a_slot_past_its_starting_deadline_is_missed_not_started() -> None:
    schedule = spec(startingDeadlineSeconds=600)
    decision = decide(
        schedule, SlotState(handled_through=days_later(0), created=CREATED, now=days_later(1, 0.5), active=0)
    )
    assert decision.start == ()
    assert decision.reasons == {"StartingDeadlineExceeded": 1}
    assert decision.handled_through == days_later(1)


def test_forbid_holds_a_slot_while_a_run_is_active_then_starts_it() -> None:
    schedule = spec(concurrencyPolicy="Forbid")
    busy = decide(schedule, SlotState(handled_through=days_later(0), created=CREATED, now=days_later(1, 0.1), active=1))
    assert busy.start == () and busy.waiting == days_later(1) and busy.missed == 0
    assert busy.handled_through == days_later(0)
    idle = decide(
        schedule, SlotState(handled_through=busy.handled_through, created=CREATED, now=days_later(1, 0.2), active=0)
    )
    assert idle.start == (days_later(1),)


def test_forbid_backfills_missed_slots_one_at_a_time_oldest_first() -> None:
    schedule = spec(concurrencyPolicy="Forbid", catchUp={"policy": "All"})
    first = decide(schedule, SlotState(handled_through=days_later(0), created=CREATED, now=days_later(3, 1), active=0))
    assert first.start == (days_later(1),) and first.waiting == days_later(2)
    assert first.handled_through == days_later(1)
    second = decide(
        schedule, SlotState(handled_through=first.handled_through, created=CREATED, now=days_later(3, 2), active=1)
    )
    assert second.start == () and second.waiting == days_later(2)


def test_replace_starts_the_newest_slot_and_replaces_the_active_run() -> None:
    schedule = spec(concurrencyPolicy="Replace", catchUp={"policy": "All"})
    decision = decide(
        schedule, SlotState(handled_through=days_later(0), created=CREATED, now=days_later(2, 1), active=1)
    )
    assert decision.start == (days_later(2),) and decision.replace_active
    assert decision.reasons == {"Replaced": 1}


def test_a_suspended_schedule_starts_nothing_and_records_its_slots_as_missed() -> None:
    decision = decide(
        spec(suspend=True), SlotState(handled_through=days_later(0), created=CREATED, now=days_later(2, 1), active=0)
    )
    assert decision.start == () and decision.missed == 2 and decision.reasons == {"Suspended": 2}
    assert decision.handled_through == days_later(2) and decision.next_time is None
