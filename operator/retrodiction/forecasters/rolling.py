"""A custom model's forecasts of a batch's targets, one model call per (series, origin) as statsforecast makes them.

Semantics (docs/user-guide.md, "Custom models"): the forecast from origin t sees the series' rows up to t within the
model's lookback. Without refitEvery, the model is fitted afresh at every origin (`forecast`, statsforecast's
refit=True). With refitEvery k, it is fitted at the origins whose index, counted from the window's first origin, is
a multiple of k, and every origin forecasts with `forward` from its own history and the parameters of the latest
fit (statsforecast's refit=k). Each origin's forecast is thus a function of the data alone, never of which batch
computed the origins before it: any batch layout gives the same forecasts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrodiction.data.errors import describe_exception
from retrodiction.engine import ForecastSet

from .histories import SeriesHistory
from .plan import CustomModelPlan
from .registry import ModelFactory


@dataclass
class ModelErrors:
    """Model calls that raised (each skips the targets of its origin): how many, and the first message."""

    count: int = 0
    first: str | None = None

    def record(self, error: BaseException) -> None:
        self.count += 1
        if self.first is None:
            self.first = describe_exception(error)


@dataclass
class _Output:
    """The forecast arrays being filled: (targets, series) per horizon, NaN where no forecast was made."""

    horizons: Sequence[int]
    levels: Sequence[int]
    shape: tuple[int, int]
    mean: list[NDArray[np.float64]] = field(init=False)
    lower: dict[int, list[NDArray[np.float64]]] = field(init=False)
    upper: dict[int, list[NDArray[np.float64]]] = field(init=False)

    def __post_init__(self) -> None:
        self.mean = [np.full(self.shape, np.nan) for _ in self.horizons]
        self.lower = {level: [np.full(self.shape, np.nan) for _ in self.horizons] for level in self.levels}
        self.upper = {level: [np.full(self.shape, np.nan) for _ in self.horizons] for level in self.levels}

    def put(self, served: Sequence[tuple[int, int, int]], series: int, result: Mapping[str, Any], steps: int) -> None:
        """Store one call's result for the (horizon index, target index, step) it serves."""
        mean = _steps(result, "mean", steps)
        bounds = {
            level: (_steps(result, f"lo-{level}", steps), _steps(result, f"hi-{level}", steps)) for level in self.levels
        }
        for h_index, target, step in served:
            self.mean[h_index][target, series] = mean[step - 1]
            for level, (lower, upper) in bounds.items():
                self.lower[level][h_index][target, series] = lower[step - 1]
                self.upper[level][h_index][target, series] = upper[step - 1]

    def forecast_set(self) -> ForecastSet:
        return ForecastSet(mean=self.mean, lower=self.lower, upper=self.upper)


def _steps(result: Mapping[str, Any], key: str, steps: int) -> NDArray[np.float64]:
    if key not in result:
        raise ValueError(f"the model's result has no {key!r} (it has {sorted(result)})")
    values = np.asarray(result[key], dtype=np.float64).reshape(-1)
    if len(values) != steps:
        raise ValueError(f"the model's {key!r} holds {len(values)} values, not h={steps}")
    # A diverging fit (or a plugin's bug) must cost its origin, not turn every sum of the run into infinity.
    if not np.isfinite(values).all():
        raise ValueError(f"the model's {key!r} holds values that are not finite")
    return values


@dataclass(frozen=True)
class _Origins:
    """Which origins (frame rows) a batch needs and which targets each serves."""

    first_target: int
    n_targets: int
    horizons: Sequence[int]

    def rows(self) -> range:
        return range(
            max(0, self.first_target - max(self.horizons)), self.first_target + self.n_targets - min(self.horizons)
        )

    def served(self, origin: int) -> list[tuple[int, int, int]]:
        """(horizon index, target index in the batch, step) of each target that `origin` forecasts."""
        return [
            (h_index, origin + horizon - self.first_target, horizon)
            for h_index, horizon in enumerate(self.horizons)
            if 0 <= origin + horizon - self.first_target < self.n_targets
        ]


class _NoHistoryError(Exception):
    """The refit point has no observation to fit on yet: its origins are skipped, like the builtins' early ones."""


class _Fitted:
    """The model fitted at the latest refit point, refitted when an origin's refit point moves on."""

    def __init__(self, factory: ModelFactory) -> None:
        self._factory = factory
        self._point: int | None = None
        self._model: Any = None
        self._error: BaseException | None = None

    def at(self, point: int, history: SeriesHistory) -> Any:
        if point != self._point:
            self._point, self._model, self._error = point, None, None
            y = history.until(point) if point >= 0 else None
            try:
                if y is None:
                    raise _NoHistoryError()
                self._model = self._factory().fit(y=y)
            except Exception as err:  # the model's own failure to fit: its origins are skipped and counted
                self._error = err
        if self._error is not None:
            raise self._error
        return self._model


@dataclass(frozen=True)
class BatchRows:
    """What a batch read: its rows x series, where its targets start, and the run's horizons.

    `origin_index` is the run-wide origin index of row 0 (the window's first origin, the row before its first target,
    has index 0): refit points are the rows whose index is a multiple of refitEvery.
    """

    values: NDArray[np.float64]
    first_target: int
    n_targets: int
    horizons: Sequence[int]
    origin_index: int = 0


def custom_forecasts(rows: BatchRows, plan: CustomModelPlan, factory: ModelFactory) -> tuple[ForecastSet, ModelErrors]:
    """Forecasts of the batch's targets (first_target .. first_target + n_targets - 1) by one custom model."""
    data = np.asarray(rows.values, dtype=np.float64)
    horizons = rows.horizons
    steps = max(horizons)
    origins = _Origins(rows.first_target, rows.n_targets, horizons)
    output = _Output(horizons, plan.levels, (rows.n_targets, data.shape[1]))
    errors = ModelErrors()
    keywords: dict[str, Any] = {"level": list(plan.levels)} if plan.levels else {}
    for series in range(data.shape[1]):
        history = SeriesHistory(data[:, series], plan.lookback, plan.spec.gaps)
        model = factory() if plan.refit_every == 1 else None
        fitted = _Fitted(factory)
        for origin in origins.rows():
            served = origins.served(origin)
            y = history.until(origin) if history.observed(origin) else None
            if not served or y is None:
                continue
            try:
                if model is not None:
                    result = model.forecast(y=y, h=steps, **keywords)
                else:
                    point = origin - (origin + rows.origin_index) % plan.refit_every
                    result = fitted.at(point, history).forward(y=y, h=steps, **keywords)
                output.put(served, series, result, steps)
            except _NoHistoryError:
                continue
            except Exception as err:  # a model that cannot forecast this origin skips its targets, counted
                errors.record(err)
    return output.forecast_set(), errors
