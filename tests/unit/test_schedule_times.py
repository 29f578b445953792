"""The time logic of RetrodictionSchedule: slots in time zones and across daylight-saving changes, windows, and
which slots start under each catch-up and concurrency policy. `now` is always given: no test waits for a clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
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
    after_starts,
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


def test_no_slot_lies_between_a_moment_and_itself_or_an_earlier_one() -> None:
    assert between("0 * * * *", BERLIN, utc("2026-01-01T03:00"), utc("2026-01-01T03:00"), keep=10) == Slots((), 0)
    assert between("0 * * * *", BERLIN, utc("2026-01-01T05:00"), utc("2026-01-01T03:00"), keep=10) == Slots((), 0)


def test_a_wildcard_hour_field_skips_its_times_in_the_gap_instead_of_shifting_them() -> None:
    # `30 */2` has a `*` in its hour field: on 2026-03-29 in Berlin 02:30 does not exist and does not run (a fixed
    # `30 2` would run at 03:30 CEST). 00:30 CET is 23:30 UTC the day before; 04:30 CEST is 02:30 UTC.
    slots = between("30 */2 * * *", BERLIN, utc("2026-03-28T22:00"), utc("2026-03-29T03:00"), keep=10)
    assert slots.newest == (utc("2026-03-28T23:30"), utc("2026-03-29T02:30"))


def test_the_next_slot_in_a_zone_behind_utc_is_the_first_one_after_the_moment() -> None:
    # 12:00 UTC is 07:00 EST, 12:20 UTC 07:20 EST: the next hourly slot is 08:00 EST, 13:00 UTC.
    hourly = Cron.parse("0 * * * *")
    assert next_slot(hourly, NEW_YORK, utc("2026-01-15T12:00")) == utc("2026-01-15T13:00")
    assert next_slot(hourly, NEW_YORK, utc("2026-01-15T12:20")) == utc("2026-01-15T13:00")


def test_the_next_slot_after_a_slot_is_the_following_one_not_the_slot_itself() -> None:
    # 10:00 UTC on 2026-10-24 is 12:00 CEST, a slot, the day before Berlin's clocks go back to CET.
    assert next_slot(Cron.parse("0 * * * *"), BERLIN, utc("2026-10-24T10:00")) == utc("2026-10-24T11:00")


def test_the_next_wildcard_slot_in_a_repeated_hour_is_in_its_second_pass() -> None:
    # 00:30 UTC on 2026-10-25 is 02:30 CEST, in the first pass; at 03:00 CEST (01:00 UTC) the clocks go back to
    # 02:00 CET, a slot of `*/30`.
    assert next_slot(Cron.parse("*/30 * * * *"), BERLIN, utc("2026-10-25T00:30")) == utc("2026-10-25T01:00")


def test_the_next_slot_is_the_earliest_instant_when_times_shifted_out_of_a_gap_run_after_later_wall_times() -> None:
    # Antarctica/Troll goes from +00 to +02 at 01:00 UTC on 2026-03-29: 01:00 to 03:00 do not exist. The fixed
    # times 02:00 and 02:30 run two hours later (04:00 and 04:30 local, 02:00 and 02:30 UTC), after the real 03:00
    # and 03:30 (01:00 and 01:30 UTC).
    expression, troll = "0,30 2,3 * * *", ZoneInfo("Antarctica/Troll")
    assert next_slot(Cron.parse(expression), troll, utc("2026-03-29T00:30")) == utc("2026-03-29T01:00")
    slots = between(expression, troll, utc("2026-03-29T00:30"), utc("2026-03-29T03:00"), keep=10)
    assert slots.newest == tuple(utc(f"2026-03-29T{hhmm}") for hhmm in ("01:00", "01:30", "02:00", "02:30"))


@pytest.fixture
def machine_in_kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is Asia/Kolkata (+05:30) for the test, proved to have taken effect."""
    if not hasattr(time, "tzset"):
        pytest.skip("needs TZ support")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert time.localtime(0).tm_gmtoff == 19800
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.usefixtures("machine_in_kolkata")
def test_slots_and_window_ends_are_utc_times_on_a_machine_in_another_zone() -> None:
    # Berlin's repeated hour on 2026-10-25: 02:00 CEST (00:00 UTC), then 02:00 CET (01:00 UTC).
    slots = between("0 * * * *", BERLIN, utc("2026-10-24T23:30"), utc("2026-10-25T01:30"), keep=10)
    assert [slot.isoformat() for slot in slots.newest] == ["2026-10-25T00:00:00+00:00", "2026-10-25T01:00:00+00:00"]
    assert window_end(utc("2026-05-20T04:30"), BERLIN, Alignment.DAY).isoformat() == "2026-05-19T22:00:00+00:00"
    assert window_end(utc("2026-05-20T04:30"), BERLIN, Alignment.HOUR).isoformat() == "2026-05-20T04:00:00+00:00"


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


@pytest.mark.parametrize(
    ("align", "end"),
    [
        (Alignment.HOUR, "2026-05-20T04:00"),
        (Alignment.DAY, "2026-05-19T22:00"),
        (Alignment.WEEK, "2026-05-17T22:00"),
        (Alignment.MONTH, "2026-04-30T22:00"),
        (Alignment.QUARTER, "2026-03-31T22:00"),
        (Alignment.YEAR, "2025-12-31T23:00"),
    ],
)
def test_a_window_aligned_to_a_period_ends_at_its_first_instant_whatever_the_slots_seconds(
    align: Alignment, end: str
) -> None:
    # A manual run's slot is the second it was triggered in; a fraction too must not leak into the window's end.
    assert window_end(utc("2026-05-20T04:37:42.500000"), BERLIN, align) == utc(end)


@pytest.mark.parametrize(
    ("slot", "end"),
    [
        ("2026-01-15T12:00", "2025-12-31T23:00"),  # Q1, from January 1, 00:00 CET
        ("2026-03-31T12:00", "2025-12-31T23:00"),  # March, Q1's last month (in CEST by then; Q1 began in CET)
        ("2026-03-31T22:30", "2026-03-31T22:00"),  # 00:30 CEST on April 1: Q2, from April 1, 00:00 CEST
        ("2026-08-15T12:00", "2026-06-30T22:00"),  # Q3, from July 1, 00:00 CEST
        ("2026-12-31T22:59:59", "2026-09-30T22:00"),  # 23:59:59 CET on December 31: Q4, from October 1, 00:00 CEST
    ],
)
def test_a_quarter_starts_on_the_first_of_january_april_july_or_october_in_the_schedules_zone(
    slot: str, end: str
) -> None:
    assert window_end(utc(slot), BERLIN, Alignment.QUARTER) == utc(end)


def test_an_hour_aligned_window_in_a_repeated_hour_ends_where_its_own_pass_of_the_hour_began() -> None:
    # On 2026-10-25 Berlin lives 02:00-03:00 twice: in CEST (00:00-01:00 UTC), then in CET (01:00-02:00 UTC).
    # `30 * * * *` runs at 02:30 in both passes; each run's hour is the pass it ran in, not the same one twice.
    assert window_end(utc("2026-10-25T00:30"), BERLIN, Alignment.HOUR) == utc("2026-10-25T00:00")
    assert window_end(utc("2026-10-25T01:30"), BERLIN, Alignment.HOUR) == utc("2026-10-25T01:00")


def test_a_day_aligned_window_in_a_repeated_midnight_hour_ends_at_the_first_midnight() -> None:
    # America/Havana goes back from CDT (-4) to CST (-5) at 01:00 on 2026-11-01, so 00:00-01:00 happens twice. A
    # slot at 00:30 CST (05:30 UTC), in the second pass, is on a day that began at 00:00 CDT (04:00 UTC); its hour
    # began at 00:00 CST (05:00 UTC).
    havana = ZoneInfo("America/Havana")
    assert window_end(utc("2026-11-01T05:30"), havana, Alignment.DAY) == utc("2026-11-01T04:00")
    assert window_end(utc("2026-11-01T05:30"), havana, Alignment.HOUR) == utc("2026-11-01T05:00")


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
    assert late.reasons == {"NotLatest": 2, "Late": 1}
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


FIRST_SLOT = days_later(0)


def at(
    now: datetime, *, handled: datetime = FIRST_SLOT, active: int = 0, existing: set[datetime] | None = None
) -> SlotState:
    return SlotState(handled_through=handled, created=CREATED, now=now, active=active, existing=existing or set())


def test_forbid_while_a_run_is_active_keeps_the_newest_due_slot_waiting_under_catch_up_latest() -> None:
    schedule = spec(concurrencyPolicy="Forbid")
    busy = decide(schedule, at(days_later(3, 0.5), active=1))
    # Latest: of days 1 to 3 only day 3 may start. Days 1 and 2 are missed now; day 3 waits for the active run.
    assert busy.start == () and busy.waiting == days_later(3)
    assert busy.missed == 2 and busy.reasons == {"NotLatest": 2} and busy.last_missed == days_later(2)
    # Handled up to the last instant before the waiting slot: the missed slots are settled, the waiting one is not.
    assert busy.handled_through == days_later(3) - timedelta(microseconds=1)
    idle = decide(schedule, at(days_later(3, 1), handled=busy.handled_through))
    assert idle.start == (days_later(3),) and idle.missed == 0 and idle.handled_through == days_later(3)


def test_forbid_while_a_run_is_active_keeps_the_oldest_slot_within_the_limit_waiting_under_catch_up_all() -> None:
    schedule = spec(concurrencyPolicy="Forbid", catchUp={"policy": "All", "limit": 3})
    busy = decide(schedule, at(days_later(5, 1), active=1))
    # Days 1 and 2 are beyond the limit of 3; days 3, 4 and 5 run one at a time, oldest first: day 3 waits.
    assert busy.start == () and busy.waiting == days_later(3)
    assert busy.missed == 2 and busy.reasons == {"CatchUpLimit": 2} and busy.last_missed == days_later(2)
    assert busy.handled_through == days_later(3) - timedelta(microseconds=1)


def test_forbid_when_idle_starts_the_older_of_two_due_slots_and_keeps_the_newer_waiting() -> None:
    decision = decide(spec(concurrencyPolicy="Forbid", catchUp={"policy": "All"}), at(days_later(2, 1)))
    assert decision.start == (days_later(1),) and decision.waiting == days_later(2)
    assert decision.missed == 0 and decision.handled_through == days_later(1)


def test_handled_through_after_catch_up_all_starts_several_slots_in_one_pass_is_the_newest_started() -> None:
    decision = decide(spec(catchUp={"policy": "All", "limit": 3}), at(days_later(5, 3)))
    assert decision.start == (days_later(3), days_later(4), days_later(5))
    assert decision.handled_before == days_later(0) and decision.handled_through == days_later(5)
    assert decision.missed == 2 and decision.last_missed == days_later(2)


def test_a_suspended_schedule_with_catch_up_all_misses_every_due_slot_and_names_the_newest() -> None:
    decision = decide(spec(suspend=True, catchUp={"policy": "All", "limit": 3}), at(days_later(5, 1)))
    assert decision.start == () and decision.already_started == ()
    assert decision.missed == 5 and decision.reasons == {"Suspended": 5} and not decision.missed_is_lower_bound
    assert decision.last_missed == days_later(5)
    assert decision.handled_before == days_later(0) and decision.handled_through == days_later(5)
    assert decision.next_time is None


def test_a_suspended_schedule_counts_a_due_slot_whose_run_exists_as_started_not_missed() -> None:
    # A pass started day 3's run and lost its status write; then the schedule was suspended.
    decision = decide(spec(suspend=True), at(days_later(3, 1), existing={days_later(3)}))
    assert decision.start == () and decision.already_started == (days_later(3),)
    assert decision.missed == 2 and decision.reasons == {"Suspended": 2} and decision.last_missed == days_later(2)
    assert decision.handled_through == days_later(3)


def test_a_suspended_schedule_with_nothing_due_has_no_next_slot() -> None:
    decision = decide(spec(suspend=True), at(days_later(0, 1)))
    assert decision.start == () and decision.missed == 0 and decision.next_time is None
    assert decision.handled_before == decision.handled_through == days_later(0)


def test_a_slot_whose_run_exists_is_not_named_the_last_missed_one() -> None:
    # A replayed pass: day 3's run exists; days 1 and 2 were missed (Latest), day 2 the newest of them.
    decision = decide(spec(), at(days_later(3, 1), existing={days_later(3)}))
    assert decision.start == () and decision.already_started == (days_later(3),)
    assert decision.missed == 2 and decision.last_missed == days_later(2)
    assert decision.handled_through == days_later(3)


@pytest.mark.parametrize("suspend", [False, True])
def test_missed_slots_past_the_counting_bound_are_reported_as_a_lower_bound(
    monkeypatch: pytest.MonkeyPatch, suspend: bool
) -> None:
    monkeypatch.setattr(schedule_times, "MAX_SLOTS_COUNTED", 50)
    decision = decide(spec(schedule="* * * * *", suspend=suspend), at(days_later(1)))
    # A day of minutes: only 50 slots are counted. Latest starts the newest and misses the others; suspended, all.
    assert decision.missed == (50 if suspend else 49) and decision.missed_is_lower_bound


def test_last_missed_names_the_newest_missed_slot() -> None:
    # All with a limit of 3: days 1 and 2 are beyond it; at day 5 + 1 h days 3 and 4 are more than a day old, past
    # the deadline, and day 5 starts. The newest missed slot is day 4, not day 2 (the newest beyond the limit).
    schedule = spec(catchUp={"policy": "All", "limit": 3}, startingDeadlineSeconds=86400)
    decision = decide(schedule, at(days_later(5, 1)))
    assert decision.start == (days_later(5),)
    assert decision.missed == 4 and decision.reasons == {"CatchUpLimit": 2, "StartingDeadlineExceeded": 2}
    assert decision.last_missed == days_later(4)
    assert decision.handled_through == days_later(5)


@pytest.mark.parametrize(("late", "starts"), [(59, True), (60, True), (61, False)])
def test_catch_up_none_starts_a_slot_seen_within_sixty_seconds_and_no_later(late: int, starts: bool) -> None:
    decision = decide(spec(catchUp={"policy": "None"}), at(days_later(1) + timedelta(seconds=late)))
    assert decision.start == ((days_later(1),) if starts else ())
    assert decision.reasons == ({} if starts else {"Late": 1})
    assert decision.handled_through == days_later(1)


@pytest.mark.parametrize(("late", "starts"), [(599, True), (600, True), (601, False)])
def test_a_slot_starts_up_to_exactly_its_starting_deadline_and_no_later(late: int, starts: bool) -> None:
    decision = decide(spec(startingDeadlineSeconds=600), at(days_later(1) + timedelta(seconds=late)))
    assert decision.start == ((days_later(1),) if starts else ())
    assert decision.reasons == ({} if starts else {"StartingDeadlineExceeded": 1})


@pytest.mark.parametrize(
    ("late", "reasons"),
    [(60, {}), (61, {"Late": 1}), (600, {"Late": 1}), (601, {"StartingDeadlineExceeded": 1})],
)
def test_catch_up_none_with_a_starting_deadline_above_the_on_time_limit_keeps_the_on_time_limit(
    late: int, reasons: dict[str, int]
) -> None:
    # On time is within 60 s, or startingDeadlineSeconds if that is shorter; 600 s is not. A slot seen after 61 s
    # was late though its deadline had not passed; after 601 s it is past its deadline as well.
    schedule = spec(catchUp={"policy": "None"}, startingDeadlineSeconds=600)
    decision = decide(schedule, at(days_later(1) + timedelta(seconds=late)))
    assert decision.start == (() if reasons else (days_later(1),))
    assert decision.reasons == reasons


@pytest.mark.parametrize(("late", "starts"), [(30, True), (31, False)])
def test_catch_up_none_with_a_starting_deadline_below_the_on_time_limit_keeps_the_deadline(
    late: int, starts: bool
) -> None:
    schedule = spec(catchUp={"policy": "None"}, startingDeadlineSeconds=30)
    decision = decide(schedule, at(days_later(1) + timedelta(seconds=late)))
    assert decision.start == ((days_later(1),) if starts else ())
    assert decision.reasons == ({} if starts else {"StartingDeadlineExceeded": 1})


def test_replace_with_no_active_run_starts_the_slot_without_replacing_anything() -> None:
    decision = decide(spec(concurrencyPolicy="Replace"), at(days_later(1, 0.1)))
    assert decision.start == (days_later(1),) and not decision.replace_active


def test_a_clock_earlier_than_handled_through_starts_nothing_and_keeps_handled_through() -> None:
    # Day 2 was handled; the clock now reads day 1 + 1 h.
    decision = decide(spec(), at(days_later(1, 1), handled=days_later(2)))
    assert decision.start == () and decision.missed == 0 and decision.waiting is None
    assert decision.handled_before == decision.handled_through == days_later(2)
    assert decision.next_time == days_later(3)  # the first slot not handled yet, not day 2 again


def test_slots_whose_run_names_are_taken_add_to_those_already_counted() -> None:
    decision = decide(spec(catchUp={"policy": "All"}), at(days_later(2, 1)))
    first = after_starts(decision, taken=[days_later(1)])
    assert first.start == (days_later(2),) and first.reasons == {"NameTaken": 1}
    second = after_starts(first, taken=[days_later(2)])
    assert second.start == () and second.reasons == {"NameTaken": 2} and second.missed == 2
    assert second.last_missed == days_later(2)
