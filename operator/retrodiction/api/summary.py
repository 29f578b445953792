"""The summary document of a run: what `retrodiction train` and a run's driver write, and other tools read.

This model is the document's contract. The writer (retrodiction/summary.py) builds it, the driver stores it, the
report and the tests read it through `parse_summary`, and docs/reference/summary.schema.json is generated from it
(`python -m retrodiction.api.summary_schema`). Field names and their order are frozen: the same run always
serialises to the same bytes. `apiVersion` and `kind` version the document; docs/reference/summary.md says which
changes an apiVersion allows. Readers ignore fields they do not know, so adding an optional field stays compatible.

Only pydantic is imported here: the operator may import this module without loading the run's libraries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from retrodiction.api.errors import format_validation_error
from retrodiction.identity import API_VERSION, SUMMARY_KIND
from retrodiction.times import rfc3339

# The document's version field is the API's group/version; see docs/reference/summary.md for when it changes.
SUMMARY_API_VERSION: Final = API_VERSION

# Whole seconds in UTC with a Z: the form of Kubernetes timestamps, and stable bytes for the same run.
Timestamp = Annotated[AwareDatetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]


class SummaryError(ValueError):
    """The document is not a summary this version can read; the message is one line naming the field."""


class _Part(BaseModel):
    # extra="ignore": a reader skips fields added by a later writer of the same apiVersion (see the module doc).
    # No NaN or infinity: JSON has none (a metric without any scored target is null).
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore", allow_inf_nan=False
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with the document's field names in their frozen order.

        Only the optional fields added after the first version have defaults, and they are left out while they hold
        them: a run without custom models writes the very bytes an earlier writer did."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


class SummaryWindow(_Part):
    start: Timestamp
    end: Timestamp
    batch_size_days: int = Field(ge=1)


class SummaryRun(_Part):
    name: str
    namespace: str | None
    uid: str
    window: SummaryWindow
    start_time: Timestamp | None
    completion_time: Timestamp | None


class SummaryData(_Part):
    uri: str
    format: str
    time_column: str


class SummaryCustomModel(_Part):
    """A custom model as the run computed it; `lookback` is the one it was given (the admin's cap when unset)."""

    name: str
    source: str  # statsforecast or plugin
    model: str  # the statsforecast class, or the plugin's entry point
    params: dict[str, Any]
    refit_every: int = Field(ge=1)
    lookback: int = Field(ge=1)
    levels: list[int]
    gaps: str


class SummaryEngine(_Part):
    models: list[str]
    horizons: list[int]
    season_length: int
    window_length: int
    ses_alpha: float
    tolerance: float
    custom_models: list[SummaryCustomModel] = Field(default_factory=list)


class SummaryConfig(_Part):
    """The non-secret settings the run computed with (never storage options or credentials)."""

    data: SummaryData
    retrodiction: SummaryEngine
    variables_per_batch: int = Field(ge=1)


class BatchFailure(_Part):
    # The one place the batch id is spelled `id`: a frozen name of the document.
    batch_id: str = Field(alias="id")
    error: str


class SummaryBatches(_Part):
    total: int = Field(ge=0)
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    failures: list[BatchFailure]


class Trust(_Part):
    """The Beta(1 + successes, 1 + failures) posterior: its mean and 95% interval."""

    mean: float
    lower: float
    upper: float


class IntervalScore(_Part):
    """A model's central `level`% prediction interval on the targets scored with one: the share that fell inside it
    (coverage; `level`/100 when the intervals are calibrated) and the mean Winkler score (lower is better)."""

    level: int = Field(ge=1, le=99)
    n: int = Field(ge=0)
    coverage: float | None
    winkler: float | None


class SummaryResult(_Part):
    """One variable x model x horizon. Metrics are null when no target was scored."""

    variable: str
    model: str
    horizon: int = Field(ge=1)
    n: int = Field(ge=0)
    skipped: int = Field(ge=0)
    mae: float | None
    rmse: float | None
    mase: float | None
    directional_accuracy: float | None
    successes: int = Field(ge=0)
    failures: int = Field(ge=0)
    trust: Trust
    # Only for a model with prediction intervals (a custom model's `levels`); trust stays the Beta of point success.
    intervals: list[IntervalScore] = Field(default_factory=list)


class ModelCost(_Part):
    """Where a model's time went over the run's batches, and its calls that raised (their targets are skipped)."""

    model: str
    seconds: float = Field(ge=0)
    errors: int = Field(ge=0)
    first_error: str | None


class RetrodictionSummary(_Part):
    api_version: str = Field(json_schema_extra={"const": SUMMARY_API_VERSION})
    kind: str = Field(json_schema_extra={"const": SUMMARY_KIND})
    run: SummaryRun
    config: SummaryConfig
    batches: SummaryBatches
    results: list[SummaryResult]
    models: list[ModelCost] = Field(default_factory=list)

    @field_validator("api_version", "kind")
    @classmethod
    def _this_document(cls, value: str, info: ValidationInfo) -> str:
        return this_document(value, info, SUMMARY_KIND)


def this_document(value: str, info: ValidationInfo, kind: str) -> str:
    """The validator of a document's apiVersion and kind fields: this API's version, and `kind`. Not a Literal:
    the error then says what this reader knows instead of listing literal values."""
    expected = SUMMARY_API_VERSION if info.field_name == "api_version" else kind
    if value != expected:
        raise ValueError(f"{value!r} is not {expected!r}, the only one this reader knows")
    return value


def parse_summary(document: str | bytes | Mapping[str, Any]) -> RetrodictionSummary:
    """A summary from its JSON text or parsed JSON; SummaryError (one line, naming the field) when it is not one."""
    try:
        if isinstance(document, Mapping):
            return RetrodictionSummary.model_validate(document)
        return RetrodictionSummary.model_validate_json(document)
    except ValidationError as err:
        raise SummaryError(f"not a {SUMMARY_KIND}: {format_validation_error(err)}") from None
