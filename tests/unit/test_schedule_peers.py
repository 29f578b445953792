"""RetrodictionSchedule against its peers' own test tables: the Kubernetes CronJob controller
(pkg/controller/cronjob: cronjob_controllerv2_test.go, utils_test.go), robfig/cron (spec_test.go, parser_test.go,
the parser Kubernetes uses) and croniter's DST tests. Each test names the peer case it was written from.

Where the peers disagree on daylight saving (robfig/cron skips a fixed time in a spring-forward gap and runs a
repeated one twice; Vixie/ISC cron and croniter do not), this project follows Vixie/ISC cron; those rows are here
as documented differences, asserting our rule.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from itertools import combinations
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from retrodiction.api.cron import NEVER_FIRES_RULE, Cron, CronError
from retrodiction.api.schedule import RetrodictionScheduleSpec
from retrodiction.controller.schedule_times import SlotState, after_starts, decide, next_slot, slots_between
from tests.unit.schedule_api import FakeApi, schedule, tick, utc


def between(expression: str, zone: str, after: datetime, until: datetime, keep: int = 100) -> tuple[datetime, ...]:
    found = slots_between(Cron.parse(expression), ZoneInfo(zone), after, until, keep=keep)
    assert list(found.newest) == sorted(set(found.newest)), "slots come oldest first, each once"
    return found.newest


def local(zone: str, *moments: datetime) -> list[str]:
    return [moment.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes") for moment in moments]


def gaps(moments: tuple[datetime, ...]) -> set[timedelta]:
    return {later - earlier for earlier, later in itertools.pairwise(moments)}


# --- 1. Replace, replayed --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["Allow", "Forbid", "Replace"])
def test_a_replayed_pass_neither_deletes_nor_recreates_the_slots_own_run(policy: str) -> None:
    """cronjob_controllerv2_test.go, TestControllerV2SyncCronJob: "this started but went missing, not past
    deadline, A" / ", f" / ", R" (and "this started but is not present in cronjob active list, ..."): the slot's
    job exists, so no create and no delete, and it is the one active run."""
    api, body = FakeApi(), schedule(concurrencyPolicy=policy)
    tick(api, body, "2026-06-02T00:00:03", apply_status=False)  # the status write is lost
    tick(api, body, "2026-06-02T00:01:00")
    assert api.created_runs == ["nightly-202606020000"] and api.deleted == []
    assert "RunReplaced" not in api.reasons()
    assert body["status"]["active"] == [{"name": "nightly-202606020000", "scheduledTime": "2026-06-02T00:00:00Z"}]
    assert body["status"]["handledThrough"] == "2026-06-02T00:00:00Z"


def test_replace_still_replaces_the_run_of_an_older_slot_when_the_pass_is_replayed() -> None:
    """TestControllerV2SyncCronJob "still active, is time, R": the older slot's run is deleted and the new one
    created, once, even when the pass runs twice."""
    api, body = FakeApi(), schedule(concurrencyPolicy="Replace")
    tick(api, body, "2026-06-02T00:00:03")
    tick(api, body, "2026-06-03T00:00:03", apply_status=False)
    tick(api, body, "2026-06-03T00:00:09")
    assert api.deleted == ["nightly-202606020000"]
    assert api.created_runs == ["nightly-202606020000", "nightly-202606030000"]
    assert body["status"]["activeCount"] == 1


# --- 2. fall-back nights ---------------------------------------------------------------------------------------------

# The repeated hour of each zone's fall-back night in 2026: (its first wall time, its length).
FALL_BACK = {
    "America/New_York": (datetime(2026, 11, 1, 1, 0), timedelta(hours=1)),
    "Europe/Berlin": (datetime(2026, 10, 25, 2, 0), timedelta(hours=1)),
    "Europe/Dublin": (datetime(2026, 10, 25, 1, 0), timedelta(hours=1)),
    "Australia/Lord_Howe": (datetime(2026, 4, 5, 1, 30), timedelta(minutes=30)),
    "America/Santiago": (datetime(2026, 4, 4, 23, 0), timedelta(hours=1)),
    "Antarctica/Troll": (datetime(2026, 10, 25, 1, 0), timedelta(hours=2)),
}


def _passes(zone: str, wall: datetime) -> tuple[datetime, datetime]:
    first = wall.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=ZoneInfo(zone), fold=1).astimezone(UTC)
    assert second - first == FALL_BACK[zone][1], "the wall time is in the repeated hour"
    return first, second


@pytest.mark.parametrize("zone", sorted(FALL_BACK))
def test_a_fixed_slot_in_the_first_pass_of_a_repeated_hour_is_seen_from_the_second_pass(zone: str) -> None:
    """croniter test_std_dst / test_timezone_winter_time read across both passes; the CronJob controller finds the
    most recent slot by walking forward from the last handled one (utils_test.go, TestMostRecentScheduleTime
    "missed 5 schedules"). A slot at the end of the repeated hour has run (first pass) when `now` is early in the
    second pass: it is due, it is the slot Latest starts, and it runs once."""
    start, length = FALL_BACK[zone]
    slot_wall, now_wall = (start + length * 3 / 4).replace(second=0), start + length / 2
    slot, _ = _passes(zone, slot_wall)
    _, now = _passes(zone, now_wall)
    expression = f"{slot_wall.minute} {slot_wall.hour} * * *"
    day_before = slot - timedelta(days=1)  # the day before's slot, handled
    assert between(expression, zone, day_before, now) == (slot,)
    body = schedule(schedule=expression, timeZone=zone)
    decision = decide(
        RetrodictionScheduleSpec.model_validate(body["spec"]),
        SlotState(
            handled_through=day_before,
            created=day_before,
            now=now,
            active=0,
        ),
    )
    assert decision.start == (slot,) and decision.missed == 0
    assert between(expression, zone, slot, slot + timedelta(hours=6)) == ()  # the second pass does not run it again


@pytest.mark.parametrize("zone", sorted(FALL_BACK))
def test_a_wildcard_schedule_keeps_its_interval_through_both_passes_of_a_repeated_hour(zone: str) -> None:
    """croniter test_timezone_winter_time (Europe/Athens, `*/30`: both 03:00+03:00 and 03:00+02:00 run) and
    test_std_dst (Europe/Warsaw hourly: 02:00+02:00, 02:00+01:00, 03:00); Vixie cron's rule for wildcard jobs.
    `*/15` has no 75-minute hole on the fall-back night."""
    start, length = FALL_BACK[zone]
    first, second = _passes(zone, start)
    slots = between("*/15 * * * *", zone, first - timedelta(hours=2), second + length + timedelta(hours=2))
    assert gaps(slots) == {timedelta(minutes=15)}
    assert first in slots and second in slots


def test_hourly_runs_in_both_passes_and_skips_the_gap() -> None:
    """croniter test_std_dst (issue #82, Europe/Warsaw): hourly from 01:00 on 2017-03-26 goes to 03:00+02:00, and
    on 2017-10-29 gives 02:00+02:00, 02:00+01:00, 03:00."""
    zone = "Europe/Warsaw"
    spring = between("0 * * * *", zone, utc("2017-03-25T23:30"), utc("2017-03-26T01:30"))
    assert local(zone, *spring) == ["2017-03-26T01:00+01:00", "2017-03-26T03:00+02:00"]
    autumn = between("0 * * * *", zone, utc("2017-10-28T23:30"), utc("2017-10-29T02:30"))
    assert local(zone, *autumn) == ["2017-10-29T02:00+02:00", "2017-10-29T02:00+01:00", "2017-10-29T03:00+01:00"]


def test_an_hourly_minute_in_the_gap_is_skipped() -> None:
    """croniter test_dst_hourly (issue #149, Europe/London, `7 * * * *`): 00:07+00:00, then 02:07+01:00."""
    zone = "Europe/London"
    slots = between("7 * * * *", zone, utc("2025-03-30T00:00"), utc("2025-03-30T02:00"))
    assert local(zone, *slots) == ["2025-03-30T00:07+00:00", "2025-03-30T02:07+01:00"]


def test_a_wildcard_schedule_runs_nothing_inside_a_gap() -> None:
    """croniter test_timezone_summer_time (Europe/Athens, 2013-03-31, `*/30`): 02:30+02:00 is followed by
    04:00+03:00."""
    zone = "Europe/Athens"
    slots = between("*/30 * * * *", zone, utc("2013-03-31T00:15"), utc("2013-03-31T01:15"))
    assert local(zone, *slots) == ["2013-03-31T02:30+02:00", "2013-03-31T04:00+03:00"]


def test_robfig_runs_a_repeated_one_oclock_job_twice_and_this_project_once() -> None:
    """robfig/cron spec_test.go TestNext, "1am nightly job (runs twice)" on America/New_York 2012-11-04: a
    documented difference. A fixed-time job runs once, at the first pass (Vixie/ISC cron)."""
    zone = "America/New_York"
    slots = between("0 1 * * *", zone, utc("2012-11-04T03:00"), utc("2012-11-05T12:00"))
    assert local(zone, *slots) == ["2012-11-04T01:00-04:00", "2012-11-05T01:00-05:00"]


def test_robfig_skips_a_two_oclock_job_on_the_spring_forward_night_and_this_project_runs_it_an_hour_later() -> None:
    """robfig/cron spec_test.go TestNext, "2am nightly job (skipped)" (next is 2012-03-12T02:00-0400) and
    croniter test_dst_issue90_st31ny (Europe/Paris, 02:01 runs at 03:00): documented differences. A fixed time
    in a gap runs the gap's length later, 03:00 EDT here."""
    zone = "America/New_York"
    slots = between("0 2 * * *", zone, utc("2012-03-11T05:00"), utc("2012-03-12T12:00"))
    assert local(zone, *slots) == ["2012-03-11T03:00-04:00", "2012-03-12T02:00-04:00"]


def test_midnight_that_does_not_exist_runs_when_the_day_begins() -> None:
    """croniter test_dst_iter (Asia/Hebron, `0 0 * * *`): on 2022-03-27 midnight does not exist and the job runs
    at 01:00+03:00."""
    zone = "Asia/Hebron"
    slots = between("0 0 * * *", zone, utc("2022-03-25T12:00"), utc("2022-03-27T12:00"))
    assert local(zone, *slots) == ["2022-03-26T00:00+02:00", "2022-03-27T01:00+03:00"]


# --- 3. a create that fails ------------------------------------------------------------------------------------------


def test_history_is_trimmed_and_the_status_written_when_runs_cannot_be_created() -> None:
    """cronjob_controllerv2_test.go, TestControllerV2CleanupFinishedJobs: "jobs are still deleted when a cronjob
    can't create jobs due to jobs quota being reached (avoiding a deadlock)". The slot is tried again next pass."""
    api, body = FakeApi(), schedule(successfulRunsHistoryLimit=1)
    for day in range(2):
        tick(api, body, (utc("2026-06-02T00:00:03") + timedelta(days=day)).isoformat().replace("+00:00", ""))
        api.finish(api.created_runs[-1], "Succeeded", f"2026-06-0{day + 2}T01:00:00Z")
    api.refusal = "403 Forbidden: exceeded quota: runs, requested: count/retrodictiontrainings=1, used: 2, limited: 2"
    tick(api, body, "2026-06-04T00:00:03")
    assert api.deleted == ["nightly-202606020000"]
    assert body["status"]["handledThrough"] == "2026-06-03T00:00:00Z"  # the refused slot stays due
    (failed,) = [message for _, reason, message in api.events if reason == "FailedCreate"]
    assert failed.startswith("could not create nightly-202606040000 for the slot 2026-06-04T00:00:00Z: 403")
    api.refusal = None
    tick(api, body, "2026-06-04T00:00:08")
    assert api.created_runs[-1] == "nightly-202606040000"
    assert body["status"]["handledThrough"] == "2026-06-04T00:00:00Z" and body["status"].get("missedSlots", 0) == 0


def test_a_refused_slot_is_missed_once_its_deadline_passes() -> None:
    """TestControllerV2SyncCronJob "prev ran but done, is time, past deadline": past startingDeadlineSeconds the
    slot is not created, and it is recorded as missed, once."""
    api, body = FakeApi(), schedule(startingDeadlineSeconds=60)
    api.refusal = "403 Forbidden: exceeded quota"
    tick(api, body, "2026-06-02T00:00:03")
    tick(api, body, "2026-06-02T00:00:30")
    api.refusal = None
    tick(api, body, "2026-06-02T00:02:00")
    tick(api, body, "2026-06-02T00:02:05")
    assert api.created_runs == []
    assert body["status"]["missedSlots"] == 1 and body["status"]["handledThrough"] == "2026-06-02T00:00:00Z"


def test_a_refused_create_keeps_every_older_missed_slot_counted_once() -> None:
    decision = decide(
        RetrodictionScheduleSpec.model_validate(schedule(timeZone="Etc/UTC")["spec"]),
        SlotState(
            handled_through=utc("2026-06-01T02:00"),
            created=utc("2026-06-01T00:00"),
            now=utc("2026-06-04T02:00:05"),
            active=0,
        ),
    )
    assert decision.start == (utc("2026-06-04T02:00"),) and decision.missed == 2
    refused = after_starts(decision, failed=utc("2026-06-04T02:00"))
    assert refused.start == () and refused.missed == 2
    assert refused.handled_through == utc("2026-06-03T02:00")  # the newest missed slot: nothing counted twice


# --- 4. schedules that never fire ------------------------------------------------------------------------------------

NEVER = ["0 0 30 2 *", "0 0 31 4 *", "59 23 31 2 *", "0 0 31 2,4,6,9,11 *", "0 0 30-31 feb *", "0 0 31 4 */1"]


@pytest.mark.parametrize("expression", NEVER)
def test_a_schedule_that_can_never_fire_is_refused_with_the_reason(expression: str) -> None:
    """utils_test.go TestMostRecentScheduleTime "rogue cronjob" (`59 23 31 2 *`: an error) and TestNextScheduleTime
    Case 8; robfig/cron spec_test.go TestNext "Unsatisfiable" (`0 0 0 30 Feb ?`, `0 0 0 31 Apr ?`)."""
    with pytest.raises(CronError, match="names no day that exists"):
        Cron.parse(expression)


@pytest.mark.parametrize("expression", ["0 0 31 2 0", "0 0 29 2 *", "0 0 31 * *", "0 0 30 1-3 *"])
def test_a_schedule_that_fires_rarely_or_by_weekday_is_valid(expression: str) -> None:
    """croniter test_weekday_day_or_with_impossible_day_of_month: `0 0 31 2 0` is every Sunday in February
    (2026-02-01, 02-08, 02-15); February 29 comes in leap years."""
    Cron.parse(expression)
    if expression == "0 0 31 2 0":
        slots = between(expression, "Etc/UTC", utc("2026-01-01T00:00"), utc("2026-02-16T00:00"))
        assert slots == (utc("2026-02-01T00:00"), utc("2026-02-08T00:00"), utc("2026-02-15T00:00"))


def test_the_operator_marks_a_schedule_that_can_never_fire_invalid_once_and_keeps_going() -> None:
    """The CronJob controller records a warning for an unparseable or unsatisfiable schedule ("never ran, not valid
    schedule, F": expectedWarnings 1) instead of failing every sync."""
    api, body = FakeApi(), schedule(schedule="0 0 30 2 *")
    tick(api, body, "2026-06-02T00:00:03")
    tick(api, body, "2026-06-02T00:00:08")
    assert api.created_runs == []
    (invalid,) = [c for c in body["status"]["conditions"] if c["type"] == "Invalid"]
    assert invalid["status"] == "True" and invalid["message"].startswith("spec.schedule: ")
    assert "names no day that exists" in invalid["message"]
    assert api.reasons().count("InvalidSchedule") == 1


# --- 5. gaps that are not one hour -----------------------------------------------------------------------------------


def test_a_fixed_time_in_lord_howes_half_hour_gap_runs_half_an_hour_later() -> None:
    """Australia/Lord_Howe moves from +10:30 to +11 at 02:00 on 2026-10-04: 02:15 does not exist that night."""
    zone = "Australia/Lord_Howe"
    slots = between("15 2 * * *", zone, utc("2026-10-02T12:00"), utc("2026-10-04T12:00"))
    assert local(zone, *slots) == ["2026-10-03T02:15+10:30", "2026-10-04T02:45+11:00"]


def test_shifted_times_in_trolls_two_hour_gap_come_in_order_and_none_is_lost() -> None:
    """Antarctica/Troll moves from +00 to +02 at 01:00 UTC on 2026-03-29: 01:00 to 03:00 do not exist. The
    shifted 01:45 (to 03:45) and 02:xx times land after the real 03:00; none is lost when the last handled slot
    lies between them, and two wall times that land on one instant run once."""
    zone, expression = "Antarctica/Troll", "0,45 1-3 * * *"
    night = between(expression, zone, utc("2026-03-28T12:00"), utc("2026-03-29T12:00"))
    assert night == (utc("2026-03-29T01:00"), utc("2026-03-29T01:45"), utc("2026-03-29T02:00"), utc("2026-03-29T02:45"))
    assert between(expression, zone, utc("2026-03-29T01:50"), utc("2026-03-29T03:00")) == (
        utc("2026-03-29T02:00"),
        utc("2026-03-29T02:45"),
    )
    assert next_slot(Cron.parse(expression), ZoneInfo(zone), utc("2026-03-29T01:50")) == utc("2026-03-29T02:00")


# --- 6. startingDeadlineSeconds below ten ----------------------------------------------------------------------------


def test_a_starting_deadline_under_ten_seconds_is_refused() -> None:
    """The CronJob docs warn that a startingDeadlineSeconds under 10 may never be met (the controller checks every
    10 s; its test tables' shortest deadline is shortDead = 10 in TestControllerV2SyncCronJob)."""
    with pytest.raises(ValidationError, match="greater than or equal to 10"):
        RetrodictionScheduleSpec.model_validate(schedule(startingDeadlineSeconds=9)["spec"])
    RetrodictionScheduleSpec.model_validate(schedule(startingDeadlineSeconds=10)["spec"])


def test_a_stored_deadline_under_ten_seconds_is_treated_as_ten_with_one_warning() -> None:
    api, body = FakeApi(), schedule(startingDeadlineSeconds=3)
    tick(api, body, "2026-06-02T00:00:08")  # 8 s late: a 3 s deadline would miss it
    tick(api, body, "2026-06-02T00:00:13")
    assert api.created_runs == ["nightly-202606020000"]
    (warning,) = [message for _, reason, message in api.events if reason == "StartingDeadlineRaised"]
    assert warning.startswith("spec.startingDeadlineSeconds: 3 is below 10")
    assert "Invalid" not in {c["type"] for c in body["status"]["conditions"] if c["status"] == "True"}


# --- 7. and 8. ownership ---------------------------------------------------------------------------------------------


def foreign_run(name: str, *, labels: dict[str, str] | None = None) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "team-a", "labels": labels or {}, "ownerReferences": []}}


def test_a_run_name_held_by_an_object_the_schedule_does_not_own_is_a_missed_slot() -> None:
    """cronjob_controllerv2_test.go, TestControllerV2JobAlreadyExistsButDifferentOwner: a job of that name that the
    cronjob does not control is not its run (no status update counts it). Here the slot is recorded as missed
    with the reason, and the Event names the object."""
    api, body = FakeApi(), schedule()
    name = "nightly-202606020000"
    api.runs[name] = foreign_run(name, labels={"training.retrodiction.dev/schedule": "nightly"})
    tick(api, body, "2026-06-02T00:00:03")
    assert api.created_runs == []
    assert body["status"].get("active") in (None, []) and body["status"]["activeCount"] == 0
    assert body["status"]["missedSlots"] == 1 and body["status"]["lastMissedTime"] == "2026-06-02T00:00:00Z"
    assert body["status"]["handledThrough"] == "2026-06-02T00:00:00Z"
    (taken,) = [message for _, reason, message in api.events if reason == "RunNameTaken"]
    assert "nightly-202606020000" in taken and "does not own" in taken
    (missed,) = [message for _, reason, message in api.events if reason == "SlotsMissed"]
    assert "1 NameTaken" in missed


def test_an_owned_run_whose_schedule_label_was_edited_still_counts() -> None:
    """cronjob_controllerv2_test.go, TestControllerV2GetJobsToBeReconciled "test getting jobs whose labels do not
    match job template" (children are found by controller reference, not label): Forbid still holds the next
    slot, and history trimming still sees the run."""
    api, body = FakeApi(), schedule(concurrencyPolicy="Forbid", successfulRunsHistoryLimit=0)
    tick(api, body, "2026-06-02T00:00:03")
    api.runs["nightly-202606020000"]["metadata"]["labels"] = {"team": "someone-else"}
    tick(api, body, "2026-06-03T00:00:03")
    assert api.created_runs == ["nightly-202606020000"]
    assert body["status"]["activeCount"] == 1
    api.finish("nightly-202606020000", "Succeeded", "2026-06-03T00:05:00Z")
    tick(api, body, "2026-06-03T00:05:05")
    assert "nightly-202606020000" in api.deleted


def test_runs_of_another_schedule_with_the_same_label_are_not_children() -> None:
    """TestControllerV2GetJobsToBeReconciled "test getting jobs in namespace without controller reference": a
    run labelled for this schedule but not owned by it is neither active nor history."""
    api, body = FakeApi(), schedule(concurrencyPolicy="Forbid", successfulRunsHistoryLimit=0)
    stray = foreign_run("stray", labels={"training.retrodiction.dev/schedule": "nightly"})
    api.runs["stray"] = stray
    tick(api, body, "2026-06-02T00:00:03")
    assert api.created_runs == ["nightly-202606020000"] and "stray" not in api.deleted


# --- 9. a star in a day field ----------------------------------------------------------------------------------------


def test_a_step_of_one_in_a_day_field_is_a_star_so_both_day_fields_must_match() -> None:
    """robfig/cron parser.go getRange keeps starBit for `*/1` (parser_test.go TestRange: `*` has starBit) and
    spec_test.go TestActivation "if one has a star, then both need to match"; croniter
    test_step_of_one_from_field_max reads `*/1` as `*`. `0 0 1 * */1` runs on the 1st only."""
    slots = between("0 0 1 * */1", "Etc/UTC", utc("2026-01-01T12:00"), utc("2026-03-15T00:00"))
    assert slots == (utc("2026-02-01T00:00"), utc("2026-03-01T00:00"))
    assert between("0 0 */1 * MON", "Etc/UTC", utc("2026-01-01T00:00"), utc("2026-01-14T00:00")) == (
        utc("2026-01-05T00:00"),
        utc("2026-01-12T00:00"),
    )


@pytest.mark.parametrize(
    ("expression", "moment", "matches"),
    [
        ("* * */10 * Sun", "2012-07-15T00:00", True),  # both restricted: one is enough (robfig #70)
        ("* * * * Mon", "2012-07-15T00:00", False),  # a star: both must match
        ("* * 1,15 * *", "2012-07-09T00:00", False),
        ("* * 1,15 * *", "2012-07-15T00:00", True),
        ("* * 1,15 * Mon", "2012-07-09T00:00", True),
        ("* * ? * Mon", "2012-07-09T00:00", True),  # `?` is `*`
        ("* * ? * Mon", "2012-07-10T00:00", False),
    ],
)
def test_day_of_month_and_day_of_week_follow_robfigs_activation_table(
    expression: str, moment: str, matches: bool
) -> None:
    """robfig/cron spec_test.go TestActivation: "If both are restricted, then only one needs to match" and
    "However, if one has a star, then both need to match"."""
    instant = utc(moment)
    found = between(expression, "Etc/UTC", instant - timedelta(minutes=1), instant)
    assert (found == (instant,)) is matches


# --- 10. a conflict with the slot's finished run ---------------------------------------------------------------------


def test_a_conflict_with_the_slots_finished_run_does_not_list_it_as_active() -> None:
    """cronjob_controllerv2_test.go, TestControllerV2JobAlreadyExistsButNotInActiveStatus: on AlreadyExists the
    controller reads the job back; it is active only if it has not finished."""
    api, body = FakeApi(), schedule()
    tick(api, body, "2026-06-02T00:00:03", apply_status=False)
    api.finish("nightly-202606020000", "Succeeded", "2026-06-02T00:00:30Z")
    tick(api, body, "2026-06-02T00:01:00")
    assert api.created_runs == ["nightly-202606020000"]
    assert body["status"]["activeCount"] == 0 and body["status"].get("active") in (None, [])
    assert body["status"]["lastScheduleTime"] == "2026-06-02T00:00:00Z"


def test_a_conflict_with_the_slots_active_run_lists_it() -> None:
    """TestControllerV2JobAlreadyExistsButNotInActiveStatus: the one status update lists the existing job."""
    api, body = FakeApi(), schedule()
    tick(api, body, "2026-06-02T00:00:03", apply_status=False)
    tick(api, body, "2026-06-02T00:01:00")
    assert body["status"]["active"] == [{"name": "nightly-202606020000", "scheduledTime": "2026-06-02T00:00:00Z"}]


# --- 11. the clock steps back ----------------------------------------------------------------------------------------


def test_after_the_clock_steps_back_nothing_starts_and_the_next_slot_is_the_first_not_handled() -> None:
    """cronjob_controllerv2_test.go, TestControllerV2SyncCronJob "this ran but done, time drifted back, F": the
    controller takes no action. nextScheduleTime names a slot not yet handled, never one already run."""
    api, body = FakeApi(), schedule(concurrencyPolicy="Forbid")
    tick(api, body, "2026-06-02T00:00:03")
    api.finish("nightly-202606020000", "Succeeded", "2026-06-02T00:10:00Z")
    tick(api, body, "2026-06-01T23:59:00")  # the clock stepped back across the slot
    assert api.created_runs == ["nightly-202606020000"]
    assert body["status"]["nextScheduleTime"] == "2026-06-03T00:00:00Z"
    assert body["status"]["handledThrough"] == "2026-06-02T00:00:00Z"


def test_the_admission_rule_for_schedules_that_never_fire_agrees_with_the_operator() -> None:
    """The CRD's CEL rule covers plain lists of days and months; wherever it refuses, the operator's check refuses,
    and on plain lists with a star day-of-week they agree exactly."""
    patterns = [re.compile(text) for text in re.findall(r"self\.matches\(r'([^']*)'\)", NEVER_FIRES_RULE)]
    assert len(patterns) == 2
    days = ["1", "29", "30", "31"]
    months = ["1", "02", "feb", "Apr", "6", "09", "11", "dec"]
    for day_list in (",".join(c) for n in (1, 2) for c in combinations(days, n)):
        for month_list in (",".join(c) for n in (1, 2, 3) for c in combinations(months, n)):
            for day_of_week in ("*", "?", "*/1", "MON", "*/2"):
                expression = f"0 0 {day_list} {month_list} {day_of_week}"
                refused = any(pattern.match(expression) for pattern in patterns)
                try:
                    Cron.parse(expression)
                    fires = True
                except CronError:
                    fires = False
                assert refused == (not fires), expression
