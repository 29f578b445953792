"""When a RetrodictionSchedule's runs are due, and which of them start: pure functions of the spec and `now`.

Cron expressions are read in the schedule's time zone on wall-clock time, the way people write them: `30 2 * * *`
in Europe/Berlin is 02:30 local every day, summer or winter. On the night the clocks go forward, a wall time
that does not exist runs the gap's length later (02:30 -> 03:30); on the night they go back, a wall time that
occurs twice runs once, at its first occurrence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from retrodiction.api.schedule import (
    Alignment,
    CatchUpPolicy,
    ConcurrencyPolicy,
    RetrodictionScheduleSpec,
    parse_lookback,
)

# With catchUp None a slot counts as on time when the operator sees it within this (or startingDeadlineSeconds,
# if shorter): long enough for a timer tick and a busy operator, short enough to mean "not caught up".
ON_TIME_SECONDS = 60
# Walking back further than this many slots (a per-minute schedule after weeks of downtime) stops counting:
# the missed count is then a lower bound, and only the most recent slots matter to any policy.
MAX_SLOTS_COUNTED = 100_000


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: a nonexistent wall time takes the offset from before the change (so it lands the gap later), and
    # an ambiguous one its first occurrence.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


@dataclass(frozen=True)
class Slots:
    """Scheduled times in (after, until], oldest first (at most `keep` of the newest), and how many there were."""

    newest: tuple[datetime, ...]
    count: int
    count_is_lower_bound: bool = False


def slots_between(expression: str, zone: ZoneInfo, after: datetime, until: datetime, *, keep: int) -> Slots:
    if until <= after:
        return Slots((), 0)
    # Walk back from `until`: the newest slots are the ones every policy looks at.
    iterator = croniter(expression, _local(until, zone) + timedelta(microseconds=1))
    newest: deque[datetime] = deque(maxlen=keep)
    seen: set[datetime] = set()
    count = 0
    while count < MAX_SLOTS_COUNTED:
        moment = _to_utc(iterator.get_prev(datetime), zone)
        if moment <= after:
            break
        if moment > until or moment in seen:  # two wall times in one spring-forward gap map to one instant
            continue
        seen.add(moment)
        count += 1
        if len(newest) < keep:
            newest.appendleft(moment)
    else:
        return Slots(tuple(newest), count, count_is_lower_bound=True)
    return Slots(tuple(newest), count)


def next_slot(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    iterator = croniter(expression, _local(after, zone))
    while True:
        moment = _to_utc(iterator.get_next(datetime), zone)
        if moment > after:
            return moment


def previous_slot(expression: str, zone: ZoneInfo, before: datetime) -> datetime:
    iterator = croniter(expression, _local(before, zone))
    while True:
        moment = _to_utc(iterator.get_prev(datetime), zone)
        if moment < before:
            return moment


def is_valid(expression: str) -> bool:
    return bool(croniter.is_valid(expression))


# --- windows -------------------------------------------------------------------------------------------------------


def window_end(slot: datetime, zone: ZoneInfo, align: Alignment) -> datetime:
    """The end of a run's window: the slot, or the start (in `zone`) of the period that holds it."""
    if align is Alignment.SCHEDULED_TIME:
        return slot
    local = slot.astimezone(zone).replace(tzinfo=None)
    if align is Alignment.HOUR:
        start = local.replace(minute=0, second=0, microsecond=0)
    elif align is Alignment.DAY:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif align is Alignment.WEEK:  # ISO weeks start on Monday
        start = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    elif align is Alignment.MONTH:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elif align is Alignment.QUARTER:
        start = local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return _to_utc(start, zone)


def run_window(spec: RetrodictionScheduleSpec, slot: datetime) -> tuple[datetime, datetime]:
    window = spec.template.spec.window
    end = window_end(slot, ZoneInfo(spec.time_zone), window.align_to)
    return end - parse_lookback(window.lookback), end


# --- which slots start ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    start: tuple[datetime, ...] = ()  # slots to start now, oldest first
    missed: int = 0  # slots skipped for good in this decision
    missed_is_lower_bound: bool = False
    last_missed: datetime | None = None
    waiting: datetime | None = None  # the slot held back by concurrencyPolicy Forbid
    replace_active: bool = False  # delete the active runs before starting (concurrencyPolicy Replace)
    handled_through: datetime | None = None  # every slot at or before this is started or missed
    next_time: datetime | None = None
    reasons: dict[str, int] = field(default_factory=dict)  # missed slots by why, for the Event


def decide(
    spec: RetrodictionScheduleSpec,
    *,
    handled_through: datetime | None,
    created: datetime,
    now: datetime,
    active: int,
) -> Decision:
    """What to do at `now`, given the slots handled so far and the number of active runs of this schedule."""
    zone = ZoneInfo(spec.time_zone)
    since = handled_through or created
    keep = spec.catch_up.limit if spec.catch_up.policy is CatchUpPolicy.ALL else 1
    due = slots_between(spec.schedule, zone, since, now, keep=keep)
    next_time = None if spec.suspend else next_slot(spec.schedule, zone, now)
    if due.count == 0:
        return Decision(handled_through=handled_through, next_time=next_time)
    newest = due.newest[-1]
    older = due.count - len(due.newest)  # beyond what the policy would ever start
    reasons: dict[str, int] = {}

    def miss(count: int, why: str) -> None:
        if count:
            reasons[why] = reasons.get(why, 0) + count

    if spec.suspend:
        miss(due.count, "Suspended")
        return Decision(
            missed=due.count,
            missed_is_lower_bound=due.count_is_lower_bound,
            last_missed=newest,
            handled_through=newest,
            next_time=None,
            reasons=reasons,
        )
    miss(older, "CatchUpLimit" if spec.catch_up.policy is CatchUpPolicy.ALL else "NotLatest")
    deadline = spec.starting_deadline_seconds
    if spec.catch_up.policy is CatchUpPolicy.NONE:
        deadline = min(deadline or ON_TIME_SECONDS, ON_TIME_SECONDS)
    eligible = [slot for slot in due.newest if deadline is None or (now - slot).total_seconds() <= deadline]
    miss(len(due.newest) - len(eligible), "StartingDeadlineExceeded" if spec.starting_deadline_seconds else "Late")

    start: list[datetime] = []
    waiting: datetime | None = None
    replace = False
    if eligible:
        policy = spec.concurrency_policy
        if policy is ConcurrencyPolicy.ALLOW:
            start = eligible
        elif policy is ConcurrencyPolicy.REPLACE:
            # Each start would replace the one before it: only the newest survives.
            miss(len(eligible) - 1, "Replaced")
            start, replace = [eligible[-1]], active > 0
        elif active:
            waiting = eligible[0]
        else:  # Forbid and idle: one at a time, oldest first, so a backfill runs in order
            start = [eligible[0]]
            if len(eligible) > 1:
                waiting = eligible[1]

    # Slots before the first waiting one are handled (started or missed); the waiting one and later stay due.
    settled = [slot for slot in due.newest if waiting is None or slot < waiting]
    if settled:
        through: datetime | None = settled[-1]
    elif older:
        through = due.newest[0] - timedelta(microseconds=1)  # no slot lies between the older ones and this
    else:
        through = handled_through
    missed_here = [slot for slot in settled if slot not in start]
    if missed_here:
        last_missed: datetime | None = missed_here[-1]
    else:
        last_missed = previous_slot(spec.schedule, zone, due.newest[0]) if older else None
    return Decision(
        start=tuple(start),
        missed=sum(reasons.values()),
        missed_is_lower_bound=due.count_is_lower_bound,
        last_missed=last_missed,
        waiting=waiting,
        replace_active=replace,
        handled_through=through,
        next_time=next_time,
        reasons=reasons,
    )
