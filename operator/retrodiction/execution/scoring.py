"""One batch's scores for every model of a run: the builtins in the engine, then each custom model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from retrodiction.engine import EngineConfig, Scores, score_forecasts, score_targets
from retrodiction.forecasters import BatchRows, CustomModelPlan, cached_model_factory, custom_forecasts


@dataclass(frozen=True)
class BatchScores:
    """Scores with the model axis in the run's order, and per model its seconds and failed calls."""

    scores: Scores
    seconds: tuple[float, ...]
    errors: tuple[int, ...]
    first_errors: tuple[str | None, ...]


def run_levels(custom_models: Sequence[CustomModelPlan]) -> tuple[int, ...]:
    return tuple(sorted({level for plan in custom_models for level in plan.levels}))


def score_batch(
    values: NDArray[np.float64],
    first_target: int,
    engine: EngineConfig,
    custom_models: Sequence[CustomModelPlan] = (),
    origin_index: int = 0,
) -> BatchScores:
    """Score targets first_target.. of `values` (rows, series) with the builtins of `engine` and `custom_models`.

    `origin_index` is the run-wide origin index of row 0 (see forecasters/rolling.py)."""
    levels = run_levels(custom_models)
    builtin_seconds: dict[str, float] = {}
    builtins = score_targets(values, first_target, engine, model_seconds=builtin_seconds)
    parts = [Scores(counts=builtins.counts, sums=builtins.sums, levels=levels)]
    seconds = [builtin_seconds.get(model, 0.0) for model in engine.models]
    errors = [0] * len(engine.models)
    first_errors: list[str | None] = [None] * len(engine.models)
    rows = BatchRows(values, first_target, len(values) - first_target, engine.horizons, origin_index)
    for plan in custom_models:
        # Built (statsforecast or a plugin imported) once per worker process, outside the model's seconds: a
        # worker's first batch would otherwise charge seconds of imports to its model and skew the cost shares.
        factory = cached_model_factory(plan.spec)
        began = time.perf_counter()
        forecasts, failed = custom_forecasts(rows, plan, factory)
        parts.append(score_forecasts(values, first_target, engine, forecasts, levels))
        seconds.append(time.perf_counter() - began)
        errors.append(failed.count)
        first_errors.append(failed.first)
    return BatchScores(Scores.join_models(parts), tuple(seconds), tuple(errors), tuple(first_errors))
