"""Pure status logic of a RetrodictionTraining: the phase machine, progress patches and the write throttle.

Every function returns a status PATCH (a dict to merge into `status`), never a whole object, and never anything
whose size grows with the number of batches: etcd rejects objects over ~1.5 MiB, and a status that grew with the
work is a known failure of comparable operators.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from retrodiction.api.status import ConditionType, Phase
from retrodiction.controller.conditions import cap_message, set_condition, timestamp

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
_PRIMARY: Mapping[Phase, ConditionType] = {
    Phase.PENDING: ConditionType.CLUSTER_READY,
    Phase.PROVISIONING: ConditionType.CLUSTER_READY,
    Phase.RUNNING: ConditionType.RUNNING,
    Phase.SUCCEEDED: ConditionType.COMPLETE,
    Phase.FAILED: ConditionType.FAILED,
    Phase.SUSPENDED: ConditionType.SUSPENDED,
}


def _desired(phase: Phase) -> dict[ConditionType, bool]:
    # A run holds a cluster only while Running: it is torn down when suspended or finished.
    return {
        ConditionType.CLUSTER_READY: phase is Phase.RUNNING,
        ConditionType.RUNNING: phase is Phase.RUNNING,
        ConditionType.COMPLETE: phase is Phase.SUCCEEDED,
        ConditionType.FAILED: phase is Phase.FAILED,
        ConditionType.SUSPENDED: phase is Phase.SUSPENDED,
    }


def current_phase(status: Mapping[str, Any]) -> Phase | None:
    phase = status.get("phase")
    return None if phase is None else Phase(phase)


def can_transition(from_phase: Phase | None, to: Phase) -> bool:
    """Writing the phase a run is already in is always allowed (an idempotent retry), even when finished."""
    return to == from_phase or to in _ALLOWED[from_phase]


def transition(
    status: Mapping[str, Any],
    to: Phase,
    *,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> dict[str, Any]:
    """The status patch that moves a run from its current phase to `to`; raises ValueError when not allowed.

    The conditions come back whole (a merge patch replaces lists) and consistent with the phase. The primary
    condition of the new phase carries the reason and message; the others are only touched when their status
    flips, so an unchanged condition keeps its own reason and transition time.
    """
    from_phase = current_phase(status)
    if not can_transition(from_phase, to):
        raise ValueError(f"illegal phase transition {from_phase or 'None'} -> {to}")
    message = cap_message(message)
    conditions: list[dict[str, Any]] = [dict(c) for c in status.get("conditions") or ()]
    primary = _PRIMARY[to]
    for condition_type, wanted in _desired(to).items():
        existing = next((c for c in conditions if c.get("type") == condition_type), None)
        wanted_text = "True" if wanted else "False"
        if condition_type is primary:
            conditions = set_condition(conditions, condition_type, wanted, reason, message, now, generation)
        elif existing is None or existing.get("status") != wanted_text:
            conditions = set_condition(conditions, condition_type, wanted, reason, f"run is {to}", now, generation)
    patch: dict[str, Any] = {
        "phase": str(to),
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "conditions": conditions,
    }
    if to is Phase.RUNNING and not status.get("startTime"):
        patch["startTime"] = timestamp(now)
    if to in _FINISHED and not status.get("completionTime"):
        patch["completionTime"] = timestamp(now)
    return patch


def progress_patch(progress: Mapping[str, Any], *, running: int, now: datetime) -> dict[str, Any]:
    """Counters from `Progress.to_dict()`; a fixed set of scalars whatever the number of batches."""
    total = int(progress["total"])
    succeeded = int(progress["succeeded"])
    failed = int(progress["failed"])
    resumed = int(progress.get("resumed", 0))
    eta = progress.get("estimated_remaining_seconds")
    return {
        "batches": {
            "total": total,
            "succeeded": succeeded,
            "failed": failed,
            "running": max(0, int(running)),
            "resumed": resumed,
        },
        "progress": f"{succeeded + failed}/{total}",
        "completedPercentage": float(progress["completed_percentage"]),
        # null removes a stale estimate under a merge patch, which is right: there is no estimate yet.
        "estimatedRemainingSeconds": None if eta is None else max(0, math.ceil(float(eta))),
        "lastProgressTime": timestamp(now),
    }


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
