"""When a RetrodictionSchedule's runs are due, and which of them start: pure functions of the spec and `now`.

Cron expressions are read in the schedule's time zone on wall-clock time, the way people write them: `30 2 * * *`
in Europe/Berlin is 02:30 local every day, summer or winter. Where the clocks change, Vixie/ISC cron's rules hold:
- a fixed-time schedule (no `*` in its minute and hour fields): a wall time in a gap (spring forward) runs the
  gap's length later (02:30 -> 03:30 in Berlin, 02:15 -> 02:45 on Lord Howe Island's 30-minute change, 01:30 ->
  03:30 in Antarctica/Troll's two-hour one); a wall time that occurs twice (fall back) runs once, at its first
  occurrence;
- a wildcard schedule (`*` or `*/n` in the minute or hour field, and @hourly): wall times in a gap do not exist
  and do not run, and both passes of a repeated hour run, so `*/15` keeps its 15 minutes through a fall-back night.
Two wall times that land on one instant run once. robfig/cron (Kubernetes' CronJob) differs on purpose: it skips a
fixed time in a gap and runs a repeated one twice.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from retrodiction.api.cron import Cron
from retrodiction.api.schedule import (
    Alignment,
    CatchUpPolicy,
    ConcurrencyPolicy,
    RetrodictionScheduleSpec,
    parse_lookback,
)
from retrodiction.times import utc_naive

# With catchUp None a slot counts as on time when the operator sees it within this (or startingDeadlineSeconds,
# if shorter): long enough for a timer tick and a busy operator, short enough to mean "not caught up".
ON_TIME_SECONDS = 60
# Walking back further than this many slots (a per-minute schedule after weeks of downtime) stops counting:
# the missed count is then a lower bound, and only the most recent slots matter to any policy.
MAX_SLOTS_COUNTED = 100_000
# Offsets are read around a moment this far each way, hourly: further than any clock change moves a wall time
# (the largest, Samoa's skipped day, is 24 h), and no offset lasts less than an hour.
_OFFSET_REACH_HOURS = 26


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: a wall time in a gap lands the gap's length later, a repeated one at its first occurrence.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _offsets_near(zone: ZoneInfo, moment: datetime) -> list[timedelta]:
    offsets = set()
    for hours in range(-_OFFSET_REACH_HOURS, _OFFSET_REACH_HOURS + 1):
        offset = (moment + timedelta(hours=hours)).astimezone(zone).utcoffset()
        offsets.add(offset if offset is not None else timedelta(0))
    return sorted(offsets)


def _instants(wall: datetime, zone: ZoneInfo, wildcard: bool) -> tuple[datetime, ...]:
    """The instants a matching wall-clock time runs at (see the module's rules)."""
    first = _to_utc(wall, zone)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return (first,)
    if first < second:  # the wall time occurs twice; fold 0 is the first pass
        return (first, second) if wildcard else (first,)
    # A wall time in a gap: fold 0 reads it with the offset from before the change, which is the gap's length later.
    return () if wildcard else (first,)


@dataclass(frozen=True)
class Slots:
    """Scheduled times in (after, until], oldest first (at most `keep` of the newest), and how many there were."""

    newest: tuple[datetime, ...]
    count: int
    count_is_lower_bound: bool = False
    newest_not_kept: datetime | None = None  # the newest slot older than those kept, if any


def slots_between(cron: Cron, zone: ZoneInfo, after: datetime, until: datetime, *, keep: int) -> Slots:
    if until <= after:
        return Slots((), 0)
    # Walk back over wall times from the last one that can map to `until` or earlier, to the first that can map
    # after `after`: an instant's wall time is the instant plus one of the offsets in force around it (the
    # offset before a change, for a gap's shifted time), so a walk from `until`'s own wall time would miss the
    # first pass of a repeated hour while `until` is in the second, and shifted times can come out of order.
    lowest_wall = utc_naive(after) + _offsets_near(zone, after)[0]
    highest_wall = utc_naive(until) + _offsets_near(zone, until)[-1]
    iterator = cron.iterator(highest_wall + timedelta(microseconds=1))
    kept: list[datetime] = []  # a heap of the newest keep + 1
    seen: set[datetime] = set()
    while len(seen) < MAX_SLOTS_COUNTED:
        wall: datetime = iterator.get_prev(datetime)
        if wall <= lowest_wall:
            break
        for moment in _instants(wall, zone, cron.wildcard_time):
            if after < moment <= until and moment not in seen:
                seen.add(moment)
                if len(kept) <= keep:
                    heapq.heappush(kept, moment)
                else:
                    heapq.heappushpop(kept, moment)
    newest = sorted(kept)
    older = newest[:-keep] if len(newest) > keep else []
    return Slots(
        tuple(newest[len(older) :]),
        len(seen),
        count_is_lower_bound=len(seen) >= MAX_SLOTS_COUNTED,
        newest_not_kept=older[-1] if older else None,
    )


def next_slot(cron: Cron, zone: ZoneInfo, after: datetime) -> datetime:
    """The first scheduled time after `after`."""
    iterator = cron.iterator(utc_naive(after) + _offsets_near(zone, after)[0])
    best: datetime | None = None
    highest_offset = timedelta(0)
    while True:
        wall: datetime = iterator.get_next(datetime)
        # Every later wall time runs at the wall time minus an offset at most `highest_offset`: no earlier slot.
        if best is not None and wall - highest_offset >= utc_naive(best):
            return best
        for moment in _instants(wall, zone, cron.wildcard_time):
            if moment > after and (best is None or moment < best):
                best = moment
                highest_offset = _offsets_near(zone, moment)[-1]


# --- windows -------------------------------------------------------------------------------------------------------


def window_end(slot: datetime, zone: ZoneInfo, align: Alignment) -> datetime:
    """The end of a run's window: the slot, or the start (in `zone`) of the period that holds it."""
    if align is Alignment.SCHEDULED_TIME:
        return slot
    local = slot.astimezone(zone).replace(tzinfo=None)
    if align is Alignment.HOUR:
        # The hour as the slot lived it: in the second pass of a repeated hour (fold=1) it starts an hour after
        # the first pass does, so the two passes' runs end their windows an hour apart.
        return local.replace(minute=0, second=0, microsecond=0, tzinfo=zone).astimezone(UTC)
    if align is Alignment.DAY:
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


class MissReason(StrEnum):
    """Why a slot was not run; the SlotsMissed Event counts missed slots by these."""

    SUSPENDED = "Suspended"
    CATCH_UP_LIMIT = "CatchUpLimit"  # catchUp All, beyond its limit
    NOT_LATEST = "NotLatest"  # catchUp Latest/None: only the newest due slot may start
    STARTING_DEADLINE_EXCEEDED = "StartingDeadlineExceeded"
    LATE = "Late"  # catchUp None: not seen within the on-time limit
    REPLACED = "Replaced"  # concurrencyPolicy Replace: a newer slot of the same pass replaces it
    NAME_TAKEN = "NameTaken"  # its run name is held by an object the schedule does not own


@dataclass(frozen=True)
class Decision:
    start: tuple[datetime, ...] = ()  # slots to start now, oldest first
    already_started: tuple[datetime, ...] = ()  # due slots whose run exists (a pass replayed after a crash)
    missed: int = 0  # slots skipped for good in this decision
    missed_is_lower_bound: bool = False
    last_missed: datetime | None = None
    waiting: datetime | None = None  # the slot held back by concurrencyPolicy Forbid
    replace_active: bool = False  # delete the active runs before starting (concurrencyPolicy Replace)
    handled_before: datetime | None = None  # handledThrough as the decision found it
    handled_through: datetime | None = None  # every slot at or before this is started or missed
    next_time: datetime | None = None
    reasons: dict[MissReason, int] = field(default_factory=dict)  # missed slots by why, for the Event


@dataclass(frozen=True)
class SlotState:
    """What a schedule's pass knows besides its spec: the slots handled so far, the clock, and its runs."""

    handled_through: datetime | None
    created: datetime
    now: datetime
    active: int  # runs of this schedule that have not finished
    existing: Collection[datetime] = ()  # the slots whose runs exist


@dataclass
class _Misses:
    counts: dict[MissReason, int] = field(default_factory=dict)

    def add(self, count: int, why: MissReason) -> None:
        if count:
            self.counts[why] = self.counts.get(why, 0) + count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Starts:
    start: tuple[datetime, ...] = ()
    waiting: datetime | None = None
    replace: bool = False


def decide(spec: RetrodictionScheduleSpec, state: SlotState) -> Decision:
    """What to do at `state.now`, given the slots handled so far, the number of active runs of this schedule and
    the slots whose runs exist. A due slot whose run exists was started by a pass whose status write was lost: it
    is handled, never started again, waited for or replaced (the CronJob controller's "this started but went
    missing" rows)."""
    cron, zone = Cron.parse(spec.schedule), ZoneInfo(spec.time_zone)
    since = state.handled_through or state.created
    keep = spec.catch_up.limit if spec.catch_up.policy is CatchUpPolicy.ALL else 1
    due = slots_between(cron, zone, since, state.now, keep=keep)
    # After the clock steps back, the next slot is the first one not handled yet, not the first after `now`.
    next_time = None if spec.suspend else next_slot(cron, zone, max(state.now, since))
    handled = state.handled_through
    if due.count == 0:
        return Decision(handled_before=handled, handled_through=handled, next_time=next_time)
    already = tuple(slot for slot in due.newest if slot in state.existing)
    candidates = [slot for slot in due.newest if slot not in state.existing]
    older = due.count - len(due.newest)  # beyond what the policy would ever start
    misses = _Misses()
    if spec.suspend:
        misses.add(older + len(candidates), MissReason.SUSPENDED)
        return Decision(
            already_started=already,
            missed=misses.total,
            missed_is_lower_bound=due.count_is_lower_bound,
            last_missed=candidates[-1] if candidates else due.newest_not_kept,
            handled_before=handled,
            handled_through=due.newest[-1],
            reasons=misses.counts,  # next_time stays None: a suspended schedule has no next slot
        )
    catching_up = spec.catch_up.policy is CatchUpPolicy.ALL
    misses.add(older, MissReason.CATCH_UP_LIMIT if catching_up else MissReason.NOT_LATEST)
    eligible = _within_deadline(spec, candidates, state.now, misses)
    starts = _by_concurrency(spec.concurrency_policy, eligible, state.active, misses)
    # Slots before the first waiting one are handled (started or missed); the waiting one and later stay due.
    settled = [slot for slot in due.newest if starts.waiting is None or slot < starts.waiting]
    missed_here = [slot for slot in settled if slot not in starts.start and slot not in already]
    return Decision(
        start=starts.start,
        already_started=already,
        missed=misses.total,
        missed_is_lower_bound=due.count_is_lower_bound,
        last_missed=missed_here[-1] if missed_here else due.newest_not_kept,
        waiting=starts.waiting,
        replace_active=starts.replace,
        handled_before=handled,
        handled_through=_handled_through(settled, due.newest, older, handled),
        next_time=next_time,
        reasons=misses.counts,
    )


def _within_deadline(
    spec: RetrodictionScheduleSpec, candidates: list[datetime], now: datetime, misses: _Misses
) -> list[datetime]:
    deadline = spec.starting_deadline_seconds
    if spec.catch_up.policy is CatchUpPolicy.NONE:
        deadline = min(deadline or ON_TIME_SECONDS, ON_TIME_SECONDS)
    eligible: list[datetime] = []
    for slot in candidates:
        age = (now - slot).total_seconds()
        if deadline is None or age <= deadline:
            eligible.append(slot)
        elif spec.starting_deadline_seconds is not None and age > spec.starting_deadline_seconds:
            misses.add(1, MissReason.STARTING_DEADLINE_EXCEEDED)
        else:  # catchUp None: within its own deadline, but not seen within the on-time limit
            misses.add(1, MissReason.LATE)
    return eligible


def _by_concurrency(policy: ConcurrencyPolicy, eligible: list[datetime], active: int, misses: _Misses) -> _Starts:
    if not eligible:
        return _Starts()
    if policy is ConcurrencyPolicy.ALLOW:
        return _Starts(start=tuple(eligible))
    if policy is ConcurrencyPolicy.REPLACE:
        # Each start would replace the one before it: only the newest survives.
        misses.add(len(eligible) - 1, MissReason.REPLACED)
        return _Starts(start=(eligible[-1],), replace=active > 0)
    if active:
        return _Starts(waiting=eligible[0])
    # Forbid and idle: one at a time, oldest first, so a backfill runs in order.
    return _Starts(start=(eligible[0],), waiting=eligible[1] if len(eligible) > 1 else None)


def _handled_through(
    settled: list[datetime], newest: Sequence[datetime], older: int, handled: datetime | None
) -> datetime | None:
    if settled:
        return settled[-1]
    if older:
        return newest[0] - timedelta(microseconds=1)  # no slot lies between the older ones and this
    return handled


def after_starts(decision: Decision, *, taken: Sequence[datetime] = (), failed: datetime | None = None) -> Decision:
    """The decision as it stands once its starts were tried: slots whose run name is held by an object the schedule
    does not own are missed for good (`NameTaken`); from the first slot whose create failed on, nothing counts as
    handled, so the next pass tries it again (while its deadline allows), as the CronJob controller requeues."""
    reasons = dict(decision.reasons)
    if taken:
        reasons[MissReason.NAME_TAKEN] = reasons.get(MissReason.NAME_TAKEN, 0) + len(taken)
    last_missed = max((slot for slot in (decision.last_missed, *taken) if slot is not None), default=None)
    handled = decision.handled_through
    if failed is not None:
        # Every slot the decision missed is older than every slot it starts, so the newest slot settled before
        # the refused one is the newest missed, taken or started one before it.
        before = [slot for slot in (last_missed, *decision.already_started, *decision.start) if slot and slot < failed]
        handled = max(before, default=decision.handled_before)
    return replace(
        decision,
        start=tuple(slot for slot in decision.start if slot not in taken and (failed is None or slot < failed)),
        missed=sum(reasons.values()),
        last_missed=last_missed,
        handled_through=handled,
        reasons=reasons,
    )
