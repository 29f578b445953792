"""Every name the project is known by on the API server, in one place: the API group and version, kinds, plurals,
labels, annotations, event reasons and condition types.

They are API: users select on the labels, alerts match the event reasons, `kubectl wait` names the conditions, and
objects already stored carry the annotations. So a value here is never renamed, only added. The module imports
nothing beyond the standard library, so every layer (the operator, the driver, the CLI, the tests) can use it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

GROUP: Final = "training.retrodiction.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
# `kubectl get retrodiction` lists both kinds.
CATEGORY: Final = "retrodiction"


# Names that land in manifests are plain strings, not enums: manifests are also written as YAML, and YAML's safe
# dumper refuses str subclasses.
TRAINING_KIND: Final = "RetrodictionTraining"
SCHEDULE_KIND: Final = "RetrodictionSchedule"
# Not a custom resource: the `kind` of the summary document a run stores.
SUMMARY_KIND: Final = "RetrodictionSummary"


TRAININGS: Final = "retrodictiontrainings"
SCHEDULES: Final = "retrodictionschedules"
TRAINING_SHORT_NAMES: Final = ("rt",)
SCHEDULE_SHORT_NAMES: Final = ("rts",)

# rt/NAME, retrodictiontraining/NAME, retrodictiontrainings.training.retrodiction.dev/NAME: a run in the cluster, as
# `retrodiction train` and kubectl name it.
_RUN_REFERENCE = re.compile(
    r"^(rt|retrodictiontrainings?(\.training\.retrodiction\.dev)?)/(?P<name>[a-z0-9][-a-z0-9.]*)$"
)


def run_reference_name(reference: str) -> str | None:
    """The run's name in a reference to a RetrodictionTraining in the cluster (rt/NAME, ...); None for anything
    else, such as a manifest's path."""
    match = _RUN_REFERENCE.match(reference)
    return match.group("name") if match else None


# dask-kubernetes' custom resource, which a kubernetes-mode run's driver connects to.
DASK_GROUP: Final = "kubernetes.dask.org"
DASK_VERSION: Final = "v1"
DASK_API_VERSION: Final = f"{DASK_GROUP}/{DASK_VERSION}"
DASK_CLUSTERS: Final = "daskclusters"

# --- labels on every child of a run --------------------------------------------------------------------------------
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "retrodiction-operator"
PART_OF_LABEL: Final = "app.kubernetes.io/part-of"
PART_OF: Final = "retrodiction"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
RUN_LABEL: Final = f"{GROUP}/run"
# A run deleted and re-created under the same name gets a new uid: selecting by uid never mixes the two.
RUN_UID_LABEL: Final = f"{GROUP}/run-uid"
# On the runs a schedule starts.
SCHEDULE_LABEL: Final = f"{GROUP}/schedule"


# Values of COMPONENT_LABEL: which part of a run an object is.
COMPONENT_DASK_CLUSTER: Final = "dask-cluster"
COMPONENT_SUMMARY: Final = "summary"
COMPONENT_HTML_REPORT: Final = "html-report"
COMPONENT_CHECKPOINT: Final = "checkpoint"
COMPONENT_DRIVER: Final = "driver"
COMPONENT_DRIVER_REPORT: Final = "driver-report"
COMPONENT_TLS: Final = "tls"
COMPONENT_NETWORK_POLICY: Final = "network-policy"
# A schedule's compact history of results (owned by the schedule, written by its runs' drivers).
COMPONENT_HISTORY: Final = "history"


# --- annotations ---------------------------------------------------------------------------------------------------
# Kopf's own bookkeeping (progress, diff base, finalizer) is stored under this prefix.
KOPF_PREFIX: Final = GROUP
# On a DaskCluster made with the run's TLS (one made by an earlier version without it is replaced).
TLS_ANNOTATION: Final = f"{GROUP}/tls"
# On a schedule's run: the slot it is for. On a schedule, any new value starts a run now
# (`kubectl annotate rts/NAME training.retrodiction.dev/trigger=$(date +%s) --overwrite`); the run it starts carries
# the value as triggered-by.
SCHEDULED_TIME_ANNOTATION: Final = f"{GROUP}/scheduled-time"
TRIGGER_ANNOTATION: Final = f"{GROUP}/trigger"
TRIGGERED_BY_ANNOTATION: Final = f"{GROUP}/triggered-by"
# On the chart's CRD templates: the file under crds/ they are generated from.
GENERATED_FROM_ANNOTATION: Final = f"{GROUP}/generated-from"


# --- conditions ----------------------------------------------------------------------------------------------------
class RunCondition(StrEnum):
    """A RetrodictionTraining's condition types (metav1.Condition), for `kubectl wait --for=condition=Complete`."""

    CLUSTER_READY = "ClusterReady"
    RUNNING = "Running"
    COMPLETE = "Complete"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


class ScheduleCondition(StrEnum):
    """A RetrodictionSchedule's condition types."""

    INVALID = "Invalid"
    SUSPENDED = "Suspended"


# --- event reasons -------------------------------------------------------------------------------------------------
class EventReason(StrEnum):
    """The reasons of the Events the operator records (`kubectl get events --field-selector reason=RunFailed`).
    The reasons of a run's terminal status and of its conditions are drawn from the same set."""

    # A run
    ACCEPTED = "Accepted"
    """The operator took the run on (Pending): next it checks the namespace's queue and starts the driver."""
    QUEUED = "Queued"
    """The namespace already runs maxConcurrentRunsPerNamespace runs: this one waits in Pending, oldest first."""
    CLUSTER_CREATING = "ClusterCreating"
    """The run's DaskCluster was requested (or is being requested again after a resume)."""
    CLUSTER_READY = "ClusterReady"
    """The scheduler answers and accepts work: not merely its Service existing."""
    CLUSTER_FAILED = "ClusterFailed"
    """The DaskCluster could not be created or never became ready."""
    RUN_STARTED = "RunStarted"
    """Batches are being submitted to the cluster."""
    BATCHES_FAILED = "BatchesFailed"
    """Some batches failed for good after their retries (the run may still succeed within maxFailedBatches)."""
    RUN_SUCCEEDED = "RunSucceeded"
    """Every batch finished within the failure budget and the summary was merged."""
    RUN_FAILED = "RunFailed"
    """The run stopped for a reason no more specific reason names."""
    RUN_SUSPENDED = "RunSuspended"
    """spec.execution.suspend became true: the cluster is released, finished batches are kept."""
    RUN_RESUMED = "RunResumed"
    """spec.execution.suspend became false again: a cluster is provisioned and only unfinished batches run."""
    SUMMARY_STORED = "SummaryStored"
    """The summary document was written to its ConfigMap and/or output.uri."""
    INVALID_SPEC = "InvalidSpec"
    """The spec passed the API server's schema but not the operator's checks (e.g. unsupported resources)."""
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    """spec.execution.activeDeadlineSeconds passed before the run finished."""
    DELETED = "Deleted"
    """The run was deleted; its children go with it through their ownerReferences."""
    POLICY_VIOLATION = "PolicyViolation"
    """The spec asks for what the admin policy does not allow (a mode, an image, a URI scheme, a size); the message
    names the field and the rule."""
    DRIVER_FAILED = "DriverFailed"
    """The run's driver Job failed without saying why (it crashed more often than its back-off limit allows)."""
    DRIVER_ERROR = "DriverError"
    """The run's driver met an unexpected error (reported by the driver; its pod may be retried)."""
    RUN_NOT_FOUND = "RunNotFound"
    """The run's driver could not read its run (deleted, or its access revoked)."""

    # A schedule
    RUN_CREATED = "RunCreated"
    """A slot came due and its run was created."""
    RUN_REPLACED = "RunReplaced"
    """concurrencyPolicy Replace: an active run was deleted for a newer slot. (A driver that finds its run
    replaced by another of the same name also stops with this reason.)"""
    SLOTS_MISSED = "SlotsMissed"
    """Slots passed without a run (the operator was down, Forbid, a deadline, catchUp); the message counts them."""
    TRIGGERED = "Triggered"
    """The trigger annotation started a run outside the schedule."""
    HISTORY_TRIMMED = "HistoryTrimmed"
    """A finished run beyond the history limits was deleted."""
    INVALID_SCHEDULE = "InvalidSchedule"
    """The spec passed the API server's schema but not the operator's checks; no run starts until it is fixed."""
    FAILED_CREATE = "FailedCreate"
    """The API server refused a slot's run (a quota, admission); it is tried again on the next pass."""
    RUN_NAME_TAKEN = "RunNameTaken"
    """A slot's run name is taken by a RetrodictionTraining the schedule does not own."""
    STARTING_DEADLINE_RAISED = "StartingDeadlineRaised"
    """A stored startingDeadlineSeconds below the floor is treated as the floor."""


# A run's events that are warnings; every other reason is Normal unless the run failed.
WARNING_REASONS: Final = frozenset(
    {
        EventReason.CLUSTER_FAILED,
        EventReason.BATCHES_FAILED,
        EventReason.RUN_FAILED,
        EventReason.INVALID_SPEC,
        EventReason.DEADLINE_EXCEEDED,
        EventReason.POLICY_VIOLATION,
        EventReason.DRIVER_FAILED,
    }
)
