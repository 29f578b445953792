"""What a run's driver tells the operator: a small JSON document in a ConfigMap the driver owns.

The driver runs tenant-controlled code (the image may be the tenant's), so this document is untrusted input to the
operator: it is read with a byte cap (`MAX_REPORT_BYTES`), parsed by this model (unknown fields refused, every
string and number bounded), and only then copied into the run's status. Nothing in it is executed, decompressed
or followed.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

REPORT_KEY: Final = "report.json"
# A report is a few hundred bytes, and its final trust section at most about 22 KiB (21 models x 64 horizons of
# two 4-digit numbers); anything near this is not a report.
MAX_REPORT_BYTES: Final = 32 * 1024
# The CRD's bounds: the five builtins and at most 16 custom models; at most 64 horizons.
MAX_REPORTED_MODELS: Final = 21
MAX_REPORTED_HORIZONS: Final = 64
# The ConfigMap's name: <run>-driver (suffixed like every child name).
REPORT_SUFFIX: Final = "-driver"

_REASON = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")

Reason = Annotated[str, StringConstraints(pattern=_REASON.pattern)]
Message = Annotated[str, StringConstraints(max_length=1024)]


class DriverState(StrEnum):
    PLANNING = "Planning"  # reading the time axis, planning batches
    CONNECTING = "Connecting"  # waiting for the scheduler to answer
    RUNNING = "Running"  # batches submitted
    STORING = "Storing"  # writing the summary
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        return self in (DriverState.SUCCEEDED, DriverState.FAILED)


class DriverExit:
    """Exit codes of `retrodiction train` that end a run for good (the Job's podFailurePolicy fails at once)."""

    OK: Final = 0
    RUN_FAILED: Final = 1  # more batches failed than maxFailedBatches, or the summary could not be stored
    BAD_INPUT: Final = 2  # the spec, the data or the policy: nothing a retry would change
    DEADLINE: Final = 3  # activeDeadlineSeconds passed; the partial summary was stored
    PERMANENT: Final = (RUN_FAILED, BAD_INPUT, DEADLINE)
    # Anything unexpected (EX_SOFTWARE): the Job gives it another pod, up to its back-off limit.
    CRASHED: Final = 70


class _Report(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class ReportedBatches(_Report):
    total: int = Field(default=0, ge=0, le=10**9)
    succeeded: int = Field(default=0, ge=0, le=10**9)
    failed: int = Field(default=0, ge=0, le=10**9)
    running: int = Field(default=0, ge=0, le=10**9)
    resumed: int = Field(default=0, ge=0, le=10**9)


ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")]
TrustByHorizon = Annotated[
    list[Annotated[float, Field(ge=0.0, le=1.0)] | None], Field(max_length=MAX_REPORTED_HORIZONS)
]


class ReportedTrust(_Report):
    """A finished run's trust per model, at each horizon of its spec in the spec's order: the mean over the
    variables scored of their trust mean (`mean`) and of their 95% interval's lower end (`lower`); None where the
    model scored nothing. The operator exports it as gauges for a schedule's runs (labels from the spec, never from
    here: a model the spec does not name is ignored)."""

    mean: dict[ModelName, TrustByHorizon] = Field(default_factory=dict, max_length=MAX_REPORTED_MODELS)
    lower: dict[ModelName, TrustByHorizon] = Field(default_factory=dict, max_length=MAX_REPORTED_MODELS)


class DriverReport(_Report):
    run_uid: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    state: DriverState
    updated: datetime
    started: datetime | None = None  # when this driver began (its pod's process), for timings
    batches: ReportedBatches = Field(default_factory=ReportedBatches)
    completed_percentage: float = Field(default=0.0, ge=0.0, le=100.0)
    estimated_remaining_seconds: int | None = Field(default=None, ge=0, le=10**9)
    scheduler_address: Annotated[str, StringConstraints(max_length=256)] | None = None
    dashboard_url: Annotated[str, StringConstraints(max_length=512)] | None = Field(default=None, alias="dashboardURL")
    # Set when the state is Failed (or, with Succeeded, when some batches failed within the budget).
    reason: Reason | None = None
    message: Message | None = None
    # Set with Succeeded.
    trust: ReportedTrust | None = None
    # Where the HTML report was stored: its ConfigMap (when it fits one) and/or spec.output.uri.
    html_report: list[Literal["configMap", "uri"]] = Field(default_factory=list, max_length=2)
