"""One pass over a RetrodictionSchedule: start the runs that are due, trim the history, write the status.

Called by a Kopf timer every few seconds with the time from the operator's clock. Every step can be replayed
after a crash at any line: a slot's run has a name of its own (a second create is a conflict, taken as done),
`status.handledThrough` moves only after the runs of the slots it covers exist, and deleting a run twice is fine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from retrodiction.api.children import scheduled_time
from retrodiction.api.errors import format_validation_error
from retrodiction.api.schedule import (
    MAX_ACTIVE_LISTED,
    MIN_STARTING_DEADLINE_SECONDS,
    ActiveRun,
    LastSuccessfulRun,
    RetrodictionScheduleSpec,
    RetrodictionScheduleStatus,
    ScheduleStatusPatch,
)
from retrodiction.api.status import Phase, SummaryRef
from retrodiction.controller.conditions import ConditionUpdate, set_condition
from retrodiction.controller.kube import CreateRefusedError
from retrodiction.controller.kube_api import ScheduleApi
from retrodiction.controller.schedule_runs import owned_by_schedule, run_manifest, run_name
from retrodiction.controller.schedule_times import Decision, SlotState, after_starts, decide
from retrodiction.identity import TRIGGER_ANNOTATION, TRIGGERED_BY_ANNOTATION, EventReason, ScheduleCondition
from retrodiction.times import parse_rfc3339, rfc3339

log = logging.getLogger(__name__)


def _phase(run: Mapping[str, Any]) -> Phase | None:
    phase = (run.get("status") or {}).get("phase")
    return Phase(phase) if phase else None


@dataclass
class ScheduleContext:
    api: ScheduleApi
    body: Mapping[str, Any]
    now: datetime

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.body["metadata"]
        return {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]}

    @property
    def generation(self) -> int | None:
        generation = self.body["metadata"].get("generation")
        return None if generation is None else int(generation)

    @property
    def stored_status(self) -> dict[str, Any]:
        """The status as the API server holds it (what a patch is compared with)."""
        return dict(self.body.get("status") or {})

    @cached_property
    def status(self) -> RetrodictionScheduleStatus:
        # One pass reads the status its body arrived with; what it writes goes to the API server.
        return RetrodictionScheduleStatus.model_validate(self.stored_status)

    def write_status(self, patch: ScheduleStatusPatch) -> bool:
        """Send `patch` when it changes anything; True when it did."""
        stored = self.stored_status
        if all(stored.get(key) == value for key, value in patch.to_patch().items()):
            return False
        self.api.patch_schedule_status(self.meta["namespace"], self.meta["name"], patch)
        return True


def reconcile_schedule(ctx: ScheduleContext) -> None:
    spec = _valid_spec(ctx)
    if spec is None:
        return
    # Children by owner, as the CronJob controller finds its Jobs: a label a user edited hides no run.
    children = [run for run in ctx.api.list_runs(ctx.meta["namespace"]) if owned_by_schedule(run, ctx.meta["uid"])]
    active = [run for run in children if _active(run)]
    created = parse_rfc3339(ctx.body["metadata"].get("creationTimestamp")) or ctx.now
    state = SlotState(ctx.status.handled_through, created, ctx.now, len(active), _slots_with_runs(children))
    decision = decide(spec, state)
    if decision.replace_active:
        active = _replace(ctx, active, {run_name(ctx.meta["name"], slot) for slot in decision.start})
    decision, started = _start_due(ctx, spec, decision)
    handled_trigger, triggered = _start_triggered(ctx, spec)
    _announce_missed(ctx, decision)
    # History is trimmed whatever happened above: when a quota refuses new runs, deleting old ones frees it.
    _trim_history(ctx, spec, children)
    # A slot replayed after a crash is both listed and "started" again (the create was a conflict): count it once.
    runs = [*active, *started, *triggered]
    now_active = list({run["metadata"]["name"]: run for run in runs if _active(run)}.values())
    outcome = PassOutcome(decision=decision, active=now_active, children=children, handled_trigger=handled_trigger)
    ctx.write_status(_status_patch(ctx, spec, outcome))


def _valid_spec(ctx: ScheduleContext) -> RetrodictionScheduleSpec | None:
    """The spec, or None after recording why it is invalid."""
    generation = ctx.generation
    raw_spec, legacy_deadline = _with_deadline_floor(ctx.body["spec"])
    try:
        spec = RetrodictionScheduleSpec.model_validate(raw_spec)
    except ValidationError as err:
        _write_invalid(ctx, format_validation_error(err, "spec"), generation)
        return None
    if legacy_deadline is not None and ctx.status.observed_generation != generation:
        ctx.api.event(
            ctx.body,
            "Warning",
            EventReason.STARTING_DEADLINE_RAISED,
            f"spec.startingDeadlineSeconds: {legacy_deadline} is below {MIN_STARTING_DEADLINE_SECONDS}, which a "
            f"pass every few seconds cannot meet; treated as {MIN_STARTING_DEADLINE_SECONDS}",
        )
    return spec


def _start_due(
    ctx: ScheduleContext, spec: RetrodictionScheduleSpec, decision: Decision
) -> tuple[Decision, list[Mapping[str, Any]]]:
    """Start the decision's slots, oldest first; the decision as it stands afterwards, and the runs started."""
    started: list[Mapping[str, Any]] = []
    taken: list[datetime] = []
    failed: datetime | None = None
    for slot in decision.start:
        outcome = _start(ctx, spec, slot)
        if outcome.failed:
            failed = slot  # this slot and later ones are tried again next pass
            break
        if outcome.run is None:
            taken.append(slot)
        else:
            started.append(outcome.run)
    return after_starts(decision, taken=taken, failed=failed), started


def _start_triggered(
    ctx: ScheduleContext, spec: RetrodictionScheduleSpec
) -> tuple[str | None, list[Mapping[str, Any]]]:
    """A run for a new value of the trigger annotation: the trigger now handled, and the run started."""
    trigger = (ctx.body["metadata"].get("annotations") or {}).get(TRIGGER_ANNOTATION)
    handled = ctx.status.last_trigger
    if not trigger or trigger == handled:
        return handled, []
    outcome = _start(ctx, spec, ctx.now.replace(microsecond=0), trigger=trigger)
    return (handled if outcome.failed else trigger), ([] if outcome.run is None else [outcome.run])


def _announce_missed(ctx: ScheduleContext, decision: Decision) -> None:
    if not decision.missed:
        return
    why = ", ".join(f"{count} {reason}" for reason, count in sorted(decision.reasons.items()))
    more = "at least " if decision.missed_is_lower_bound else ""
    last = rfc3339(decision.last_missed) if decision.last_missed else "unknown"
    message = f"{more}{decision.missed} slot(s) not run ({why}); the last at {last}"
    ctx.api.event(ctx.body, "Warning", EventReason.SLOTS_MISSED, message)


def _with_deadline_floor(spec: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The spec with a startingDeadlineSeconds below the floor raised to it, and the value it had. The API server
    refuses such values now; objects stored before the floor existed keep working."""
    raw = dict(spec)
    deadline = raw.get("startingDeadlineSeconds")
    if isinstance(deadline, int) and not isinstance(deadline, bool) and deadline < MIN_STARTING_DEADLINE_SECONDS:
        raw["startingDeadlineSeconds"] = MIN_STARTING_DEADLINE_SECONDS
        return raw, deadline
    return raw, None


def _slots_with_runs(children: list[dict[str, Any]]) -> set[datetime]:
    """The slots whose runs exist (manual runs are not a slot's)."""
    return {
        slot
        for run in children
        if TRIGGERED_BY_ANNOTATION not in (run["metadata"].get("annotations") or {})
        and (slot := scheduled_time(run)) is not None
    }


def _active(run: Mapping[str, Any]) -> bool:
    phase = _phase(run)
    return phase is None or not phase.finished


def _replace(ctx: ScheduleContext, active: list[dict[str, Any]], starting: set[str]) -> list[dict[str, Any]]:
    """Delete the active runs for a newer slot, except the runs of the slots this pass starts: after a crash or a
    lost status write the pass is replayed, and the slot's own run is the one to keep, not to replace."""
    kept = []
    for run in active:
        name = run["metadata"]["name"]
        if name in starting:
            kept.append(run)
            continue
        ctx.api.delete_run(ctx.meta["namespace"], name)
        ctx.api.event(ctx.body, "Normal", EventReason.RUN_REPLACED, f"deleted {name} for a newer slot")
    return kept


@dataclass(frozen=True)
class StartOutcome:
    run: Mapping[str, Any] | None  # the slot's run (new, or found from an earlier pass); None when not started
    failed: bool = False  # the API server refused the create: try again next pass


def _start(
    ctx: ScheduleContext, spec: RetrodictionScheduleSpec, slot: datetime, *, trigger: str | None = None
) -> StartOutcome:
    manifest = run_manifest(ctx.meta, spec, slot, trigger=trigger)
    name = manifest["metadata"]["name"]
    what = f"manually (trigger {trigger!r})" if trigger else f"for the slot {rfc3339(slot)}"
    try:
        created = ctx.api.create_run(manifest)
    except CreateRefusedError as err:
        ctx.api.event(ctx.body, "Warning", EventReason.FAILED_CREATE, f"could not create {name} {what}: {err}")
        return StartOutcome(None, failed=True)
    if created:
        ctx.api.event(
            ctx.body, "Normal", EventReason.TRIGGERED if trigger else EventReason.RUN_CREATED, f"{name} {what}"
        )
        return StartOutcome(manifest)
    existing = ctx.api.get_run(ctx.meta["namespace"], name)
    if existing is None:  # gone between the conflict and the read: it was being deleted; try again next pass
        return StartOutcome(None, failed=True)
    if owned_by_schedule(existing, ctx.meta["uid"]):
        return StartOutcome(existing)  # started by an earlier pass whose status write was lost
    ctx.api.event(
        ctx.body,
        "Warning",
        EventReason.RUN_NAME_TAKEN,
        f"{name} {what} not started: a RetrodictionTraining of that name exists and this schedule does not own it",
    )
    return StartOutcome(None)


def _trim_history(ctx: ScheduleContext, spec: RetrodictionScheduleSpec, children: list[dict[str, Any]]) -> None:
    """Keep the newest successfulRunsHistoryLimit Succeeded and failedRunsHistoryLimit Failed runs."""
    limits = ((Phase.SUCCEEDED, spec.successful_runs_history_limit), (Phase.FAILED, spec.failed_runs_history_limit))
    for phase, limit in limits:
        finished = sorted(
            (run for run in children if _phase(run) is phase),
            key=lambda run: (scheduled_time(run) or ctx.now, run["metadata"]["name"]),
        )
        for run in finished[: max(0, len(finished) - limit)]:
            ctx.api.delete_run(ctx.meta["namespace"], run["metadata"]["name"])
            ctx.api.event(
                ctx.body, "Normal", EventReason.HISTORY_TRIMMED, f"deleted {run['metadata']['name']} ({phase} history)"
            )


@dataclass(frozen=True)
class PassOutcome:
    decision: Decision
    active: list[Mapping[str, Any]]  # the schedule's unfinished runs after this pass
    children: list[dict[str, Any]]  # every run the schedule owns, as listed at the start of the pass
    handled_trigger: str | None


def _status_patch(ctx: ScheduleContext, spec: RetrodictionScheduleSpec, outcome: PassOutcome) -> ScheduleStatusPatch:
    decision, active, children = outcome.decision, outcome.active, outcome.children
    generation = ctx.generation
    status = ctx.status
    last_schedule = _latest([*decision.start, *decision.already_started], status.last_schedule_time)
    last_success = _latest(
        [
            parse_rfc3339((run.get("status") or {}).get("completionTime"))
            for run in children
            if _phase(run) is Phase.SUCCEEDED
        ],
        status.last_successful_time,
    )
    valid = ConditionUpdate(ScheduleCondition.INVALID, False, "Valid", "", generation)
    suspended = ConditionUpdate(
        ScheduleCondition.SUSPENDED,
        spec.suspend,
        "Suspended" if spec.suspend else "Scheduling",
        "spec.suspend is true: no run starts" if spec.suspend else "",
        generation,
    )
    conditions = set_condition(set_condition(status.conditions, valid, ctx.now), suspended, ctx.now)
    newest = _newest_success(children, status.last_successful_run)
    patch = ScheduleStatusPatch(
        observed_generation=generation,
        last_schedule_time=last_schedule,
        next_schedule_time=decision.next_time,
        last_successful_time=last_success,
        handled_through=decision.handled_through,
        missed_slots=status.missed_slots + decision.missed,
        active=sorted(
            (
                ActiveRun(name=run["metadata"]["name"], scheduled_time=slot)
                for run in active
                if (slot := scheduled_time(run)) is not None
            ),
            key=lambda item: item.scheduled_time,
        )[-MAX_ACTIVE_LISTED:],
        active_count=len(active),
        conditions=conditions,
    )
    if newest is not None:
        patch.last_successful_run = newest
    if decision.last_missed:
        patch.last_missed_time = decision.last_missed
    if outcome.handled_trigger:
        patch.last_trigger = outcome.handled_trigger
    return patch


def _newest_success(
    children: Iterable[Mapping[str, Any]], recorded: LastSuccessfulRun | None
) -> LastSuccessfulRun | None:
    """The newest Succeeded run among `children` with where its summary is, when newer than the one recorded."""
    found: list[LastSuccessfulRun] = []
    for run in children:
        status = run.get("status") or {}
        if _phase(run) is not Phase.SUCCEEDED:
            continue
        try:
            # The operator wrote this summaryRef itself; still read through the model, which bounds it.
            ref = SummaryRef.model_validate(status["summaryRef"]) if status.get("summaryRef") else None
        except ValidationError:
            ref = None
        when = parse_rfc3339(status.get("completionTime"))
        found.append(LastSuccessfulRun(name=run["metadata"]["name"], completion_time=when, summary_ref=ref))
    if not found:
        return None
    newest = max(found, key=lambda run: (run.completion_time or datetime.min.replace(tzinfo=UTC), run.name))
    older = (
        recorded is not None
        and recorded.completion_time is not None
        and newest.completion_time is not None
        and newest.completion_time < recorded.completion_time
    )
    return None if older or newest == recorded else newest


def _latest(moments: Iterable[datetime | None], recorded: datetime | None) -> datetime | None:
    """The newest of `moments` and of the time already recorded in the status."""
    return max((moment for moment in (*moments, recorded) if moment is not None), default=None)


def _write_invalid(ctx: ScheduleContext, message: str, generation: int | None) -> None:
    invalid = ConditionUpdate(ScheduleCondition.INVALID, True, EventReason.INVALID_SCHEDULE, message, generation)
    conditions = set_condition(ctx.status.conditions, invalid, ctx.now)
    patch = ScheduleStatusPatch(observed_generation=generation, conditions=conditions, next_schedule_time=None)
    if ctx.write_status(patch):
        ctx.api.event(ctx.body, "Warning", EventReason.INVALID_SCHEDULE, message)
