"""Pure status logic of a RetrodictionTraining: the phase machine, progress patches and the write throttle.

Every function returns a status PATCH (a typed RunStatusPatch, merged into `status`), never a whole object, and
never anything whose size grows with the number of batches: etcd rejects objects over ~1.5 MiB, and a status that
grew with the work is a known failure of comparable operators.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from retrodiction.api.report import DriverReport
from retrodiction.api.status import BatchCounts, Phase, RetrodictionTrainingStatus, RunStatusPatch
from retrodiction.controller.conditions import ConditionUpdate, cap_message, get_condition, set_condition
from retrodiction.identity import RunCondition

# Far above anything the helpers produce (see test_controller_status); a budget to assert against, not a limit
# the API server enforces.
MAX_STATUS_BYTES = 16 * 1024

_FINISHED = frozenset({Phase.SUCCEEDED, Phase.FAILED})
# Failed is reachable from every unfinished phase: an invalid spec, a lost cluster or a deadline can strike anywhere.
_ALLOWED: Mapping[Phase | None, frozenset[Phase]] = {
    None: frozenset({Phase.PENDING, Phase.PROVISIONING, Phase.SUSPENDED, Phase.FAILED}),
    Phase.PENDING: frozenset({Phase.PROVISIONING, Phase.SUSPENDED, Phase.FAILED}),
    Phase.PROVISIONING: frozenset({Phase.RUNNING, Phase.SUSPENDED, Phase.FAILED}),
    Phase.RUNNING: frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.SUSPENDED}),
    # Resuming provisions a cluster again: a suspended run holds no cluster.
    Phase.SUSPENDED: frozenset({Phase.PROVISIONING, Phase.FAILED}),
    Phase.SUCCEEDED: frozenset(),
    Phase.FAILED: frozenset(),
}

# The condition that carries the transition's reason and message in each phase.
_PRIMARY: Mapping[Phase, RunCondition] = {
    Phase.PENDING: RunCondition.CLUSTER_READY,
    Phase.PROVISIONING: RunCondition.CLUSTER_READY,
    Phase.RUNNING: RunCondition.RUNNING,
    Phase.SUCCEEDED: RunCondition.COMPLETE,
    Phase.FAILED: RunCondition.FAILED,
    Phase.SUSPENDED: RunCondition.SUSPENDED,
}


def _desired(phase: Phase) -> dict[RunCondition, bool]:
    # A run holds a cluster only while Running: it is torn down when suspended or finished.
    return {
        RunCondition.CLUSTER_READY: phase is Phase.RUNNING,
        RunCondition.RUNNING: phase is Phase.RUNNING,
        RunCondition.COMPLETE: phase is Phase.SUCCEEDED,
        RunCondition.FAILED: phase is Phase.FAILED,
        RunCondition.SUSPENDED: phase is Phase.SUSPENDED,
    }


def read_status(raw: Mapping[str, Any] | None) -> RetrodictionTrainingStatus:
    """A run's stored status as the model: the API server prunes what the CRD's schema does not describe, so a status
    the operator wrote always parses; anything else raises ValidationError."""
    return RetrodictionTrainingStatus.model_validate(dict(raw or {}))


def can_transition(from_phase: Phase | None, to: Phase) -> bool:
    """Writing the phase a run is already in is always allowed (an idempotent retry), even when finished."""
    return to == from_phase or to in _ALLOWED[from_phase]


@dataclass(frozen=True)
class PhaseChange:
    """A run moving to phase `to`, why (a CamelCase reason and a message), as of the spec's `generation`."""

    to: Phase
    reason: str
    message: str
    generation: int | None = None


def transition(status: RetrodictionTrainingStatus, change: PhaseChange, now: datetime) -> RunStatusPatch:
    """The status patch that moves a run from its current phase to `change.to`; raises ValueError when not allowed.

    The conditions come back whole (a merge patch replaces lists) and consistent with the phase. The primary
    condition of the new phase carries the reason and message; the others are only touched when their status
    flips, so an unchanged condition keeps its own reason and transition time.
    """
    to, from_phase = change.to, status.phase
    if not can_transition(from_phase, to):
        raise ValueError(f"illegal phase transition {from_phase or 'None'} -> {to}")
    message = cap_message(change.message)
    conditions = list(status.conditions)
    for condition_type, wanted in _desired(to).items():
        existing = get_condition(conditions, condition_type)
        update = ConditionUpdate(condition_type, wanted, change.reason, message, change.generation)
        if condition_type is _PRIMARY[to]:
            conditions = set_condition(conditions, update, now)
        elif existing is None or existing.status != ("True" if wanted else "False"):
            conditions = set_condition(conditions, replace(update, message=f"run is {to}"), now)
    patch = RunStatusPatch(
        phase=to, reason=change.reason, message=message, observed_generation=change.generation, conditions=conditions
    )
    if to is Phase.RUNNING and status.start_time is None:
        patch.start_time = now
    if to in _FINISHED and status.completion_time is None:
        patch.completion_time = now
    return patch


def progress_patch(report: DriverReport, *, now: datetime, finished: bool = False) -> RunStatusPatch:
    """Counters from the driver's report; a fixed set of scalars whatever the number of batches. Once the run is
    `finished` nothing runs and nothing remains."""
    counts = report.batches
    eta = report.estimated_remaining_seconds
    return RunStatusPatch(
        batches=BatchCounts(
            total=counts.total,
            succeeded=counts.succeeded,
            failed=counts.failed,
            running=0 if finished else counts.running,
            resumed=counts.resumed,
        ),
        progress=f"{counts.succeeded + counts.failed}/{counts.total}",
        completed_percentage=report.completed_percentage,
        # null removes a stale estimate under a merge patch, which is right: there is no estimate yet.
        estimated_remaining_seconds=0 if finished else eta,
        last_progress_time=now,
    )


def status_size(status: Mapping[str, Any]) -> int:
    """Bytes of the status as compact JSON, roughly what it costs in the stored object."""
    return len(json.dumps(status, separators=(",", ":"), ensure_ascii=False).encode())


class StatusThrottle:
    """At most one progress write per `min_interval` seconds; forced writes (phase changes) always go through.

    A forced write also restarts the interval, since it carries the latest progress too.
    """

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must be >= 0")
        self.min_interval = min_interval
        self._clock = clock
        self._last: float | None = None

    def should_write(self, now: float | None = None, force: bool = False) -> bool:
        moment = self._clock() if now is None else now
        if force or self._last is None or moment - self._last >= self.min_interval:
            self._last = moment
            return True
        return False
