"""The `status` of a RetrodictionTraining: small and bounded whatever the number of batches.

Results never live here: the status points to them (`summaryRef`). Only counters, times and conditions do.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from retrodiction.times import as_utc, rfc3339


class Phase(StrEnum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"

    @property
    def finished(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


# metav1.Time: RFC 3339 in UTC to the second on the wire, an aware UTC datetime in Python (a naive one means UTC).
KubeTime = Annotated[datetime, AfterValidator(as_utc), PlainSerializer(rfc3339, return_type=str, when_used="json")]
ConditionStatus = Literal["True", "False", "Unknown"]


class _Status(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Condition(_Status):
    """The shape of metav1.Condition, so `kubectl wait --for=condition=Complete` works."""

    type: str = Field(min_length=1, max_length=316)
    status: ConditionStatus
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: KubeTime | None = None
    observed_generation: int | None = Field(default=None, ge=0)


# A map keyed by type, as metav1.Condition lists are: a patch replaces one condition, never duplicates it.
Conditions = Annotated[
    list[Condition],
    Field(max_length=16, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
]


class BatchCounts(_Status):
    total: int = Field(default=0, ge=0)
    succeeded: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    running: int = Field(default=0, ge=0)
    # Of the succeeded: taken from the run's checkpoints when its driver started again (a pod replaced, a resume
    # after suspend or an operator upgrade), not computed by this driver.
    resumed: int = Field(default=0, ge=0)


class DaskClusterRef(_Status):
    name: str | None = None
    scheduler_address: str | None = None
    dashboard_url: str | None = Field(default=None, alias="dashboardURL")


class SummaryRef(_Status):
    config_map: str | None = None
    uri: str | None = None
    # The HTML report beside it: a ConfigMap (gzip, key report.html.gz) when it fits one, and under the same
    # prefix as `uri` when that is set.
    report_config_map: str | None = None
    report_uri: str | None = None


class RetrodictionTrainingStatus(_Status):
    phase: Phase | None = None
    reason: str | None = Field(default=None, max_length=1024)
    message: str | None = Field(default=None, max_length=4096)
    observed_generation: int | None = Field(default=None, ge=0)
    start_time: KubeTime | None = None
    completion_time: KubeTime | None = None
    last_progress_time: KubeTime | None = None
    batches: BatchCounts | None = None
    progress: str | None = Field(default=None, max_length=64)
    completed_percentage: float | None = Field(default=None, ge=0, le=100)
    estimated_remaining_seconds: int | None = Field(default=None, ge=0)
    dask_cluster: DaskClusterRef | None = None
    summary_ref: SummaryRef | None = None
    conditions: Conditions = Field(default_factory=list)


StatusT = TypeVar("StatusT", bound=BaseModel)


class MergePatch(BaseModel):
    """A JSON merge patch of a status, as a model: only the fields set are sent (an explicit None removes one), so
    nothing reaches the API server that the CRD's status schema does not describe, and every field is bounded."""

    def applied_to(self, status: StatusT) -> StatusT:
        """`status` (a stored status or another patch) with the fields this patch sets replaced, as a merge patch
        would leave it."""
        return status.model_copy(update={name: getattr(self, name) for name in self.model_fields_set})

    def to_patch(self) -> dict[str, object]:
        # exclude_unset also applies inside nested models (conditions), which leave unknown fields unset.
        patch: dict[str, object] = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return patch


class RunStatusPatch(RetrodictionTrainingStatus, MergePatch):
    """A merge patch of a run's status: every write of the operator goes through it."""
