"""`RetrodictionTraining`: the spec a user applies, validated the same way by the CLI and the operator."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from retrodiction.identity import API_VERSION
from retrodiction.times import as_utc, rfc3339

ModelName = Literal["naive", "seasonal_naive", "window_average", "drift", "ses"]
ALL_MODELS: tuple[ModelName, ...] = ("naive", "seasonal_naive", "window_average", "drift", "ses")


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate value {value!r}")
        seen.add(value)
    return values


# Data files usually carry naive timestamps, read as UTC, so a naive window bound means UTC too.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]

# See RetrodictionSpec.ses_alpha.
MIN_SES_ALPHA = 0.01


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class SecretRef(_Model):
    name: str = Field(min_length=1, max_length=253)


def _cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    """A CEL rule the API server enforces; the same check lives in the model's validator for the CLI."""
    check: JsonDict = {"rule": rule, "message": message}
    if field_path:
        check["fieldPath"] = field_path
    return {"x-kubernetes-validations": [check]}


def _cel_rules(*rules: tuple[str, str]) -> JsonDict:
    """Several CEL rules (rule, message) on one field."""
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}


# Unique scalar lists: the API server rejects duplicates natively, without a CEL cost.
_SET: JsonDict = {"x-kubernetes-list-type": "set"}


class WindowSpec(_Model):
    """Targets whose time lies in [start, end) are scored; batches are slices of batchSizeDays."""

    model_config = ConfigDict(json_schema_extra=_cel("self.end > self.start", "end must be after start"))

    start: UtcDatetime
    end: UtcDatetime
    batch_size_days: int = Field(default=365, gt=0, le=36500)

    @model_validator(mode="after")
    def _end_after_start(self) -> WindowSpec:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    @field_serializer("start", "end")
    def _rfc3339(self, value: datetime) -> str:
        return rfc3339(value)


class DataSpec(_Model):
    uri: str = Field(min_length=1, max_length=2048)
    format: Literal["auto", "parquet", "csv"] = "auto"
    time_column: str = Field(default="date", min_length=1)
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Non-secret fsspec storage options (endpoint, region, ...).",
    )
    credentials_secret_ref: SecretRef | None = None


# statsforecast.models classes a spec may name (statsforecast 2.x). Listed here, not imported: the operator and the
# API server validate the name without the library, which only the worker image carries. SklearnModel is left out:
# it wraps an estimator object that JSON params cannot express. tests/unit/test_custom_models.py keeps the list
# in step with the installed statsforecast.
STATSFORECAST_MODELS: tuple[str, ...] = (
    "ADIDA", "ARCH", "ARIMA", "AutoARIMA", "AutoCES", "AutoETS", "AutoMFLES", "AutoRegressive", "AutoTBATS",
    "AutoTheta", "ConformalSeasonalPool", "ConstantModel", "CrostonClassic", "CrostonOptimized", "CrostonSBA",
    "DynamicOptimizedTheta", "DynamicTheta", "GARCH", "HistoricAverage", "Holt", "HoltWinters", "IMAPA", "MFLES",
    "MSTL", "NaNModel", "Naive", "OptimizedTheta", "RandomWalkWithDrift", "SeasonalExponentialSmoothing",
    "SeasonalExponentialSmoothingOptimized", "SeasonalNaive", "SeasonalWindowAverage", "SimpleExponentialSmoothing",
    "SimpleExponentialSmoothingOptimized", "TBATS", "TSB", "Theta", "WindowAverage", "ZeroModel",
)  # fmt: skip
StatsforecastClass = Literal[STATSFORECAST_MODELS]  # type: ignore[valid-type]

# Keyword arguments of a model's constructor: JSON values, bounded so a spec cannot carry a document of its own.
ModelParams = Annotated[
    dict[str, Any], Field(default_factory=dict, max_length=32, json_schema_extra={"maxProperties": 32})
]

MAX_CUSTOM_MODELS = 16
# How much history an unset lookback may still read is the admin's (AdminPolicy.max_history_rows); this is the
# default there and in `retrodiction train`.
DEFAULT_MAX_HISTORY_ROWS = 100_000


class StatsforecastModel(_Model):
    """A class of statsforecast.models and its constructor's keyword arguments (`AutoETS(season_length=12)`)."""

    model: StatsforecastClass
    params: ModelParams


class PluginModel(_Model):
    """A model a team brings: an entry point of group `retrodiction.models` in the run's worker image, named by its
    name or its object reference (`mypkg.models:make`), looked up among that group's entry points in the run's own
    pods only."""

    entry_point: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:-]+$")
    params: ModelParams


class CustomModel(_Model):
    """A model beside the builtins, scored on the same targets with the same metrics and trust."""

    model_config = ConfigDict(
        json_schema_extra=_cel_rules(
            ("has(self.statsforecast) != has(self.plugin)", "exactly one of statsforecast and plugin is required"),
            (f"!(self.name in {list(ALL_MODELS)})", "name must differ from the builtin models' names"),
        )
    )

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")
    statsforecast: StatsforecastModel | None = None
    plugin: PluginModel | None = None
    refit_every: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Fit at every refitEvery-th origin counted from the window's first; update (forward) between.",
    )
    lookback: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Rows of history up to each origin the model sees; unset: all."
    )
    levels: Annotated[list[Annotated[int, Field(ge=1, le=99)]], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=8, json_schema_extra=_SET, description="Prediction interval levels (%)."
    )
    gaps: Literal["interpolate", "skip"] = Field(
        default="interpolate",
        description="Missing rows inside the history: filled linearly between the observations around them, or the "
        "origin is skipped.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> CustomModel:
        if (self.statsforecast is None) == (self.plugin is None):
            raise ValueError("exactly one of statsforecast and plugin is required")
        if self.name in ALL_MODELS:
            raise ValueError(f"name {self.name!r} must differ from the builtin models' names")
        return self

    @property
    def source(self) -> str:
        return "statsforecast" if self.statsforecast is not None else "plugin"


_CUSTOM_MODELS_LIST: JsonDict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}


def _unique_names(models: list[CustomModel]) -> list[CustomModel]:
    _unique([model.name for model in models])
    return models


class RetrodictionSpec(_Model):
    model_config = ConfigDict(
        json_schema_extra=_cel(
            "size(self.models) + (has(self.customModels) ? size(self.customModels) : 0) > 0",
            "models and customModels must name at least one model between them",
        )
    )

    models: Annotated[list[ModelName], AfterValidator(_unique)] = Field(
        default_factory=lambda: list(ALL_MODELS), max_length=len(ALL_MODELS), json_schema_extra=_SET
    )
    custom_models: Annotated[list[CustomModel], AfterValidator(_unique_names)] = Field(
        default_factory=list, max_length=MAX_CUSTOM_MODELS, json_schema_extra=_CUSTOM_MODELS_LIST
    )
    horizons: Annotated[list[Annotated[int, Field(ge=1, le=10000)]], AfterValidator(_unique)] = Field(
        default_factory=lambda: [1], min_length=1, max_length=64, json_schema_extra=_SET
    )
    season_length: int = Field(default=4, ge=1, le=10000)
    window_length: int = Field(default=8, ge=1, le=10000)
    # The floor bounds SES's look-back (K = 2063 rows at 0.01): a tiny alpha would make every batch load millions of
    # warm-up rows.
    ses_alpha: float = Field(default=0.3, ge=MIN_SES_ALPHA, le=1.0)
    tolerance: float = Field(default=1.0, ge=0.0)

    @model_validator(mode="after")
    def _some_model(self) -> RetrodictionSpec:
        if not self.models and not self.custom_models:
            raise ValueError("models and customModels must name at least one model between them")
        return self

    @property
    def model_names(self) -> list[str]:
        """Every model of the run in the summary's order: the builtins, then the custom models."""
        return [*self.models, *(model.name for model in self.custom_models)]


class Toleration(_Model):
    """corev1 Toleration."""

    key: str | None = Field(default=None, max_length=317)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(default=None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class LocalObjectReference(_Model):
    name: str = Field(min_length=1, max_length=253)


class PodSettings(_Model):
    """Where and how every pod of a run runs: its driver, and its Dask scheduler and workers."""

    image_pull_secrets: list[LocalObjectReference] = Field(default_factory=list, max_length=16)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=64)
    affinity: dict[str, Any] = Field(default_factory=dict, description="corev1 Affinity")
    priority_class_name: str | None = Field(default=None, max_length=253)


class DriverSpec(_Model):
    """The run's driver: the pod that plans, reads the data's time axis, submits the batches and merges them."""

    resources: dict[str, Any] = Field(default_factory=dict, description="corev1 ResourceRequirements of the driver")


class DaskSpec(_Model):
    """Where batches run: a DaskCluster per run (kubernetes), an existing scheduler (address), or a LocalCluster
    inside the run's driver pod (local)."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            "self.mode == 'address' ? (has(self.address) && size(self.address) > 0) : !has(self.address)",
            "address is required when mode is address, and only allowed then",
            ".address",
        )
    )

    mode: Literal["kubernetes", "address", "local"] = "kubernetes"
    address: str | None = Field(default=None, max_length=2048)
    workers: int = Field(default=2, ge=1, le=1000)
    image: str | None = Field(default=None, max_length=1024)
    resources: dict[str, Any] = Field(default_factory=dict, description="corev1 ResourceRequirements of each worker")

    @model_validator(mode="after")
    def _address_only_with_address_mode(self) -> DaskSpec:
        if self.mode == "address" and not self.address:
            raise ValueError("address is required when mode is address")
        if self.mode != "address" and self.address:
            raise ValueError("address is only allowed when mode is address")
        return self


class ExecutionSpec(_Model):
    batch_retries: int = Field(default=2, ge=0, le=20)
    max_failed_batches: int = Field(default=0, ge=0)
    active_deadline_seconds: int | None = Field(default=None, ge=1)
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)
    suspend: bool = False


class ConfigMapOutput(_Model):
    enabled: bool = True
    name: str | None = Field(default=None, min_length=1, max_length=253)


class OutputSpec(_Model):
    """Where the summary goes: a ConfigMap owned by the run, and/or an fsspec URI (s3://bucket/prefix/)."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            "!has(self.credentialsSecretRef) || has(self.uri)",
            "credentialsSecretRef needs uri",
            ".credentialsSecretRef",
        )
    )

    config_map: ConfigMapOutput = Field(default_factory=ConfigMapOutput)
    uri: str | None = Field(default=None, min_length=1, max_length=2048)
    storage_options: dict[str, Any] = Field(default_factory=dict)
    credentials_secret_ref: SecretRef | None = None


class RunSpec(_Model):
    """What a run computes apart from its window: shared by RetrodictionTraining and a schedule's template."""

    variables: Annotated[list[Annotated[str, Field(min_length=1, max_length=253)]], AfterValidator(_unique)] = Field(
        min_length=1, max_length=10000, json_schema_extra=_SET
    )
    variables_per_batch: int = Field(default=50, ge=1, le=10000)
    data: DataSpec
    retrodiction: RetrodictionSpec = Field(default_factory=RetrodictionSpec)
    dask: DaskSpec = Field(default_factory=DaskSpec)
    driver: DriverSpec = Field(default_factory=DriverSpec)
    pods: PodSettings = Field(default_factory=PodSettings)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)


class RetrodictionTrainingSpec(RunSpec):
    window: WindowSpec


class ObjectMeta(BaseModel):
    # Kubernetes owns most of metadata; keep what we use typed and let the rest through untouched.
    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
    uid: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class RetrodictionTraining(_Model):
    model_config = ConfigDict(extra="ignore")

    api_version: Literal["training.retrodiction.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["RetrodictionTraining"]
    metadata: ObjectMeta
    spec: RetrodictionTrainingSpec

    @field_validator("api_version", mode="before")
    @classmethod
    def _known_version(cls, value: object) -> object:
        if value != API_VERSION:
            raise ValueError(f"must be {API_VERSION}, got {value!r}")
        return value
