"""Event reasons the operator emits. They are API: users filter on them (`kubectl get events
--field-selector reason=RunFailed`) and alerts match them, so a reason is never renamed."""

from __future__ import annotations

from typing import Final, Literal

from retrodiction.api.status import Phase
from retrodiction.controller.conditions import cap_message

EventType = Literal["Normal", "Warning"]

CLUSTER_CREATING: Final = "ClusterCreating"
"""The run's DaskCluster was requested (or is being requested again after a resume)."""
CLUSTER_READY: Final = "ClusterReady"
"""The scheduler answers and accepts work: not merely its Service existing."""
CLUSTER_FAILED: Final = "ClusterFailed"
"""The DaskCluster could not be created or never became ready."""
RUN_STARTED: Final = "RunStarted"
"""Batches are being submitted to the cluster."""
BATCHES_FAILED: Final = "BatchesFailed"
"""Some batches failed for good after their retries (the run may still succeed within maxFailedBatches)."""
RUN_SUCCEEDED: Final = "RunSucceeded"
"""Every batch finished within the failure budget and the summary was merged."""
RUN_FAILED: Final = "RunFailed"
"""The run stopped for a reason no more specific reason names."""
RUN_SUSPENDED: Final = "RunSuspended"
"""spec.execution.suspend became true: the cluster is released, finished batches are kept."""
RUN_RESUMED: Final = "RunResumed"
"""spec.execution.suspend became false again: a cluster is provisioned and only unfinished batches run."""
SUMMARY_STORED: Final = "SummaryStored"
"""The summary document was written to its ConfigMap and/or output.uri."""
INVALID_SPEC: Final = "InvalidSpec"
"""The spec passed the API server's schema but not the operator's checks (e.g. unsupported resources)."""
DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
"""spec.execution.activeDeadlineSeconds passed before the run finished."""
DELETED: Final = "Deleted"
"""The run was deleted; its children go with it through their ownerReferences."""
ACCEPTED: Final = "Accepted"
"""The operator took the run on (Pending): next it checks the namespace's queue and starts the driver."""
QUEUED: Final = "Queued"
"""The namespace already runs maxConcurrentRunsPerNamespace runs: this one waits in Pending, oldest first."""
POLICY_VIOLATION: Final = "PolicyViolation"
"""The spec asks for what the admin policy does not allow (a mode, an image, a URI scheme, a size); the message
names the field and the rule."""
DRIVER_FAILED: Final = "DriverFailed"
"""The run's driver Job failed without saying why (it crashed more often than its back-off limit allows)."""

REASONS: Final = frozenset(
    {
        CLUSTER_CREATING,
        CLUSTER_READY,
        CLUSTER_FAILED,
        RUN_STARTED,
        BATCHES_FAILED,
        RUN_SUCCEEDED,
        RUN_FAILED,
        RUN_SUSPENDED,
        RUN_RESUMED,
        SUMMARY_STORED,
        INVALID_SPEC,
        DEADLINE_EXCEEDED,
        DELETED,
        QUEUED,
        POLICY_VIOLATION,
        DRIVER_FAILED,
    }
)

_WARNINGS: Final = frozenset(
    {CLUSTER_FAILED, BATCHES_FAILED, RUN_FAILED, INVALID_SPEC, DEADLINE_EXCEEDED, POLICY_VIOLATION, DRIVER_FAILED}
)


def _phase_reason(from_phase: Phase | None, to_phase: Phase) -> str | None:
    if to_phase is Phase.PROVISIONING:
        return RUN_RESUMED if from_phase is Phase.SUSPENDED else CLUSTER_CREATING
    return {
        Phase.RUNNING: RUN_STARTED,
        Phase.SUCCEEDED: RUN_SUCCEEDED,
        Phase.FAILED: RUN_FAILED,
        Phase.SUSPENDED: RUN_SUSPENDED,
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
    event_reason = reason if reason in REASONS else _phase_reason(from_phase, to_phase)
    if event_reason is None:
        return None
    event_type: EventType = "Warning" if event_reason in _WARNINGS or to_phase is Phase.FAILED else "Normal"
    text = message or f"{from_phase or 'new run'} -> {to_phase}" + (f" ({reason})" if reason != event_reason else "")
    return event_type, event_reason, cap_message(text)
