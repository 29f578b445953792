"""What a run computes, independent of where it runs: data, engine settings and failure policy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retrodiction.api.summary import SummaryConfig, SummaryCustomModel, SummaryData, SummaryEngine
from retrodiction.api.training import (
    DEFAULT_MAX_HISTORY_ROWS,
    CustomModel,
    DataSpec,
    ExecutionSpec,
    RetrodictionSpec,
    RetrodictionTrainingSpec,
)
from retrodiction.data import DataSource
from retrodiction.engine import EngineConfig
from retrodiction.forecasters.plan import CustomModelPlan


@dataclass(frozen=True)
class TrainingConfig:
    source: DataSource = field(default_factory=lambda: DataSource("builtin://macrodata"))
    engine: EngineConfig = field(default_factory=EngineConfig)
    batch_retries: int = 2
    max_failed_batches: int = 0
    variables_per_batch: int = 50
    # Models beside the builtins of `engine`, and how much history those without a lookback may read (the admin's
    # AdminPolicy.maxHistoryRows in a cluster).
    custom_models: tuple[CustomModel, ...] = ()
    max_history_rows: int = DEFAULT_MAX_HISTORY_ROWS

    def __post_init__(self) -> None:
        object.__setattr__(self, "custom_models", tuple(self.custom_models))
        names = self.model_names
        if not names:
            raise ValueError("models and customModels must name at least one model between them")
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique across models and customModels, got {list(names)}")

    @classmethod
    def from_spec(
        cls,
        spec: RetrodictionTrainingSpec,
        *,
        credentials_prefix: str | None = None,
        anonymous: bool = False,
        max_history_rows: int = DEFAULT_MAX_HISTORY_ROWS,
    ) -> TrainingConfig:
        """The config of a RetrodictionTraining spec. In a cluster, `credentials_prefix` names the environment
        variables that carry the data's credentials in every process that reads it, and `anonymous` reads the
        data without credentials when there are none (see data/credentials.py)."""
        return cls(
            source=_source(spec.data, credentials_prefix=credentials_prefix, anonymous=anonymous),
            engine=_engine(spec.retrodiction),
            batch_retries=spec.execution.batch_retries,
            max_failed_batches=spec.execution.max_failed_batches,
            variables_per_batch=spec.variables_per_batch,
            custom_models=tuple(spec.retrodiction.custom_models),
            max_history_rows=max_history_rows,
        )

    @property
    def model_names(self) -> tuple[str, ...]:
        """Every model in the order of the summary's results: the builtins, then the custom models."""
        return (*self.engine.models, *(model.name for model in self.custom_models))

    @classmethod
    def coerce(cls, config: TrainingConfig | Mapping[str, Any] | None) -> TrainingConfig:
        """Accept the config as this class, or as a mapping shaped like the spec's data/retrodiction/execution."""
        if config is None:
            return cls()
        if isinstance(config, TrainingConfig):
            return config
        execution = ExecutionSpec.model_validate(config.get("execution", {}))
        data = config.get("data")
        retrodiction = RetrodictionSpec.model_validate(config.get("retrodiction", {}))
        return cls(
            source=_source(DataSpec.model_validate(data)) if data is not None else DataSource("builtin://macrodata"),
            engine=_engine(retrodiction),
            custom_models=tuple(retrodiction.custom_models),
            batch_retries=execution.batch_retries,
            max_failed_batches=execution.max_failed_batches,
            variables_per_batch=int(config.get("variablesPerBatch", 50)),
        )

    def summary_config(self) -> SummaryConfig:
        """The non-secret settings, as written into the summary document."""
        return SummaryConfig(
            data=SummaryData(uri=self.source.uri, format=self.source.format, time_column=self.source.time_column),
            retrodiction=SummaryEngine(
                models=list(self.engine.models),
                horizons=list(self.engine.horizons),
                season_length=self.engine.season_length,
                window_length=self.engine.window_length,
                ses_alpha=self.engine.ses_alpha,
                tolerance=self.engine.tolerance,
                custom_models=[self._summary_model(model) for model in self.custom_models],
            ),
            variables_per_batch=self.variables_per_batch,
        )

    def _summary_model(self, model: CustomModel) -> SummaryCustomModel:
        if model.statsforecast is not None:
            what, params = model.statsforecast.model, model.statsforecast.params
        else:
            assert model.plugin is not None
            what, params = model.plugin.entry_point, model.plugin.params
        return SummaryCustomModel(
            name=model.name,
            source=model.source,
            model=what,
            params=dict(params),
            refit_every=model.refit_every or 1,
            lookback=CustomModelPlan.of(model, self.max_history_rows).lookback,
            levels=sorted(model.levels),
            gaps=model.gaps,
        )

    def fingerprint(self, *extra: Any) -> str:
        """A short digest of everything that changes batch results; checkpoints are only reused under it."""
        blob = json.dumps([self.summary_config().to_dict(), *extra], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _source(data: DataSpec, *, credentials_prefix: str | None = None, anonymous: bool = False) -> DataSource:
    return DataSource(
        uri=data.uri,
        format=data.format,
        time_column=data.time_column,
        storage_options=dict(data.storage_options),
        credentials_prefix=credentials_prefix,
        anonymous=anonymous,
    )


def _engine(spec: RetrodictionSpec) -> EngineConfig:
    return EngineConfig(
        models=tuple(spec.models),
        horizons=tuple(spec.horizons),
        season_length=spec.season_length,
        window_length=spec.window_length,
        ses_alpha=spec.ses_alpha,
        tolerance=spec.tolerance,
    )
