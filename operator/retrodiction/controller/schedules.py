"""One pass over a RetrodictionSchedule: start the runs that are due, trim the history, write the status.

Called by a Kopf timer every few seconds with the time from the operator's clock. Every step can be replayed
after a crash at any line: a slot's run has a name of its own (a second create is a conflict, taken as done),
`status.handledThrough` moves only after the runs of the slots it covers exist, and deleting a run twice is fine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from retrodiction.api.errors import format_validation_error
from retrodiction.api.schedule import MAX_ACTIVE_LISTED, RetrodictionScheduleSpec
from retrodiction.api.status import Phase
from retrodiction.controller.conditions import parse_timestamp, set_condition, timestamp
from retrodiction.controller.kube import KubeApi
from retrodiction.controller.schedule_runs import (
    TRIGGER_ANNOTATION,
    owned_by_schedule,
    run_manifest,
    schedule_selector,
    scheduled_time,
)
from retrodiction.controller.schedule_times import Decision, decide, is_valid

log = logging.getLogger(__name__)

# Event reasons (API, like the run's: never renamed).
RUN_CREATED: Final = "RunCreated"
RUN_REPLACED: Final = "RunReplaced"
SLOTS_MISSED: Final = "SlotsMissed"
TRIGGERED: Final = "Triggered"
HISTORY_TRIMMED: Final = "HistoryTrimmed"
INVALID_SCHEDULE: Final = "InvalidSchedule"

CONDITION_INVALID: Final = "Invalid"
CONDITION_SUSPENDED: Final = "Suspended"


def _phase(run: Mapping[str, Any]) -> Phase | None:
    phase = (run.get("status") or {}).get("phase")
    return Phase(phase) if phase else None


@dataclass
class ScheduleContext:
    api: KubeApi
    body: Mapping[str, Any]
    now: datetime

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.body["metadata"]
        return {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]}

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.body.get("status") or {})


def reconcile_schedule(ctx: ScheduleContext) -> None:
    status = ctx.status
    generation = ctx.body["metadata"].get("generation")
    try:
        spec = RetrodictionScheduleSpec.model_validate(ctx.body["spec"])
        if not is_valid(spec.schedule):
            raise ValueError(f"spec.schedule: {spec.schedule!r} is not a valid cron expression")
    except (ValidationError, ValueError) as err:
        message = format_validation_error(err, "spec") if isinstance(err, ValidationError) else str(err)
        _write_invalid(ctx, status, message, generation)
        return

    children = [
        run
        for run in ctx.api.list_runs(ctx.meta["namespace"], schedule_selector(ctx.meta["name"]))
        if owned_by_schedule(run, ctx.meta["uid"])
    ]
    active = [run for run in children if not (phase := _phase(run)) or not phase.finished]
    created = parse_timestamp(ctx.body["metadata"].get("creationTimestamp")) or ctx.now
    decision = decide(
        spec,
        handled_through=parse_timestamp(status.get("handledThrough")),
        created=created,
        now=ctx.now,
        active=len(active),
    )
    if decision.replace_active:
        for run in active:
            ctx.api.delete_run(ctx.meta["namespace"], run["metadata"]["name"])
            ctx.api.event(ctx.body, "Normal", RUN_REPLACED, f"deleted {run['metadata']['name']} for a newer slot")
        active = []
    started = [_start(ctx, spec, slot) for slot in decision.start]
    trigger = (ctx.body["metadata"].get("annotations") or {}).get(TRIGGER_ANNOTATION)
    if trigger and trigger != status.get("lastTrigger"):
        started.append(_start(ctx, spec, ctx.now.replace(microsecond=0), trigger=trigger))
    if decision.missed:
        why = ", ".join(f"{count} {reason}" for reason, count in sorted(decision.reasons.items()))
        more = "at least " if decision.missed_is_lower_bound else ""
        last = timestamp(decision.last_missed) if decision.last_missed else "unknown"
        message = f"{more}{decision.missed} slot(s) not run ({why}); the last at {last}"
        ctx.api.event(ctx.body, "Warning", SLOTS_MISSED, message)
    _trim_history(ctx, spec, children)
    # A slot replayed after a crash is both listed and "started" again (the create was a conflict): count it once.
    now_active = list({run["metadata"]["name"]: run for run in [*active, *started]}.values())
    patch = _status_patch(ctx, spec, decision, now_active, children, trigger, generation)
    if any(status.get(key) != value for key, value in patch.items()):
        ctx.api.patch_schedule_status(ctx.meta["namespace"], ctx.meta["name"], patch)


def _start(
    ctx: ScheduleContext, spec: RetrodictionScheduleSpec, slot: datetime, *, trigger: str | None = None
) -> dict[str, Any]:
    manifest = run_manifest(ctx.meta, spec, slot, trigger=trigger)
    if ctx.api.create_run(manifest):
        what = f"manually (trigger {trigger!r})" if trigger else f"for the slot {timestamp(slot)}"
        reason = TRIGGERED if trigger else RUN_CREATED
        ctx.api.event(ctx.body, "Normal", reason, f"{manifest['metadata']['name']} {what}")
    return manifest


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
            ctx.api.event(ctx.body, "Normal", HISTORY_TRIMMED, f"deleted {run['metadata']['name']} ({phase} history)")


def _status_patch(
    ctx: ScheduleContext,
    spec: RetrodictionScheduleSpec,
    decision: Decision,
    active: list[dict[str, Any]],
    children: list[dict[str, Any]],
    trigger: str | None,
    generation: int | None,
) -> dict[str, Any]:
    status = ctx.status
    last_schedule = _latest(decision.start, status.get("lastScheduleTime"))
    last_success = _latest(
        [
            parse_timestamp((run.get("status") or {}).get("completionTime"))
            for run in children
            if _phase(run) is Phase.SUCCEEDED
        ],
        status.get("lastSuccessfulTime"),
    )
    conditions = set_condition(
        status.get("conditions") or [], CONDITION_INVALID, False, "Valid", "", ctx.now, generation
    )
    conditions = set_condition(
        conditions,
        CONDITION_SUSPENDED,
        spec.suspend,
        "Suspended" if spec.suspend else "Scheduling",
        "spec.suspend is true: no run starts" if spec.suspend else "",
        ctx.now,
        generation,
    )
    patch: dict[str, Any] = {
        "observedGeneration": generation,
        "lastScheduleTime": timestamp(last_schedule) if last_schedule else None,
        "nextScheduleTime": timestamp(decision.next_time) if decision.next_time else None,
        "lastSuccessfulTime": timestamp(last_success) if last_success else None,
        "handledThrough": timestamp(decision.handled_through) if decision.handled_through else None,
        "missedSlots": int(status.get("missedSlots") or 0) + decision.missed,
        "active": sorted(
            (
                {"name": run["metadata"]["name"], "scheduledTime": timestamp(slot)}
                for run in active
                if (slot := scheduled_time(run)) is not None
            ),
            key=lambda item: item["scheduledTime"],
        )[-MAX_ACTIVE_LISTED:],
        "activeCount": len(active),
        "conditions": conditions,
    }
    if decision.last_missed:
        patch["lastMissedTime"] = timestamp(decision.last_missed)
    if trigger:
        patch["lastTrigger"] = trigger
    return patch


def _latest(moments: Iterable[datetime | None], recorded: str | None) -> datetime | None:
    """The newest of `moments` and of the time already recorded in the status."""
    known = [moment for moment in (*moments, parse_timestamp(recorded)) if moment is not None]
    return max(known, default=None)


def _write_invalid(ctx: ScheduleContext, status: dict[str, Any], message: str, generation: int | None) -> None:
    conditions = set_condition(
        status.get("conditions") or [], CONDITION_INVALID, True, INVALID_SCHEDULE, message, ctx.now, generation
    )
    patch = {"observedGeneration": generation, "conditions": conditions, "nextScheduleTime": None}
    if status.get("observedGeneration") != generation or status.get("conditions") != conditions:
        ctx.api.patch_schedule_status(ctx.meta["namespace"], ctx.meta["name"], patch)
        ctx.api.event(ctx.body, "Warning", INVALID_SCHEDULE, message)
