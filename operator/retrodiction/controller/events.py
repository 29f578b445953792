"""Which Event announces a run's phase change. The reasons themselves are API and live in retrodiction/identity.py
(EventReason): users filter on them (`kubectl get events --field-selector reason=RunFailed`) and alerts match them."""

from __future__ import annotations

from typing import Final

from retrodiction.api.status import Phase
from retrodiction.controller.conditions import cap_message
from retrodiction.controller.kube_api import EventType
from retrodiction.identity import WARNING_REASONS, EventReason

# The reasons a phase change is announced under when the transition carries one of them; any other reason (Accepted
# on entering Pending, or a driver's own) lets the phase change pick the Event's reason.
ANNOUNCED: Final = frozenset(
    {
        EventReason.CLUSTER_CREATING,
        EventReason.CLUSTER_READY,
        EventReason.CLUSTER_FAILED,
        EventReason.RUN_STARTED,
        EventReason.BATCHES_FAILED,
        EventReason.RUN_SUCCEEDED,
        EventReason.RUN_FAILED,
        EventReason.RUN_SUSPENDED,
        EventReason.RUN_RESUMED,
        EventReason.SUMMARY_STORED,
        EventReason.INVALID_SPEC,
        EventReason.DEADLINE_EXCEEDED,
        EventReason.DELETED,
        EventReason.QUEUED,
        EventReason.POLICY_VIOLATION,
        EventReason.DRIVER_FAILED,
    }
)


def _phase_reason(from_phase: Phase | None, to_phase: Phase) -> EventReason | None:
    if to_phase is Phase.PROVISIONING:
        return EventReason.RUN_RESUMED if from_phase is Phase.SUSPENDED else EventReason.CLUSTER_CREATING
    return {
        Phase.RUNNING: EventReason.RUN_STARTED,
        Phase.SUCCEEDED: EventReason.RUN_SUCCEEDED,
        Phase.FAILED: EventReason.RUN_FAILED,
        Phase.SUSPENDED: EventReason.RUN_SUSPENDED,
    }.get(to_phase)


def event_for(
    from_phase: Phase | None, to_phase: Phase, reason: str, message: str = ""
) -> tuple[EventType, str, str] | None:
    """The Event (type, reason, message) announcing a phase change, or None when nothing changed.

    A transition whose reason is one of the stable reasons above is announced under it (a Failed phase with
    reason DeadlineExceeded emits DeadlineExceeded); otherwise the phase change picks the reason. Entering Pending
    emits nothing: the creation of the object is its own record.
    """
    if from_phase == to_phase:
        return None
    event_reason = EventReason(reason) if reason in ANNOUNCED else _phase_reason(from_phase, to_phase)
    if event_reason is None:
        return None
    event_type: EventType = "Warning" if event_reason in WARNING_REASONS or to_phase is Phase.FAILED else "Normal"
    text = message or f"{from_phase or 'new run'} -> {to_phase}" + (f" ({reason})" if reason != event_reason else "")
    return event_type, event_reason, cap_message(text)
