"""Score every configured model on a block of target rows: errors, scale, successes, direction hits."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .config import EngineConfig
from .history import scale_lookback, warmup_rows
from .intervals import ForecastSet, interval_scores
from .lags import LaggedRows, row_blocks
from .models import forecast_from_history, window_sum
from .scores import COUNT_FIELDS, INTERVAL_COUNT_FIELDS, SUM_FIELDS, Scores

_N, _SKIPPED, _SUCCESSES, _FAILURES, _HITS, _N_SCALED = (
    COUNT_FIELDS.index(f) for f in ("n", "skipped", "successes", "failures", "direction_hits", "n_scaled")
)
_ABS, _SQUARED, _SCALED = (SUM_FIELDS.index(f) for f in ("sum_abs_error", "sum_squared_error", "sum_scaled_abs_error"))
_INTERVAL_N, _INTERVAL_COVERED = (INTERVAL_COUNT_FIELDS.index(f) for f in ("n", "covered"))


def _target_rows(data: NDArray[np.float64], first_target: int, n_targets: int | None) -> int:
    """How many targets the call scores, after checking they lie within `data`."""
    if data.ndim != 2:
        raise ValueError(f"values must be a 2-D (rows, series) array, got shape {data.shape}")
    n_rows = data.shape[0]
    if n_targets is None:
        n_targets = n_rows - first_target
    if first_target < 0 or n_targets < 0 or first_target + n_targets > n_rows:
        raise ValueError(
            f"targets {first_target}..{first_target + n_targets - 1} do not lie within rows 0..{n_rows - 1}"
        )
    return n_targets


@dataclass(frozen=True)
class _Targets:
    """The target rows of one call, cut into cache-sized blocks, with the rows each block's views reach back to."""

    data: NDArray[np.float64]
    first: int
    count: int
    config: EngineConfig
    lookback: int

    def blocks(self) -> list[tuple[slice, LaggedRows, LaggedRows]]:
        targets = np.arange(self.first, self.first + self.count, dtype=np.int64)
        # the scale reads steps |y[k] - y[k-1]| up to this many rows before a target
        step_lookback = max(self.config.horizons) + scale_lookback(self.config) - 1
        steps, first_step_row = _absolute_steps(self.data, self.first, self.first + self.count, step_lookback)
        return [
            (
                block,
                LaggedRows(self.data, targets[block], self.lookback),
                LaggedRows(steps, targets[block] - first_step_row, step_lookback),
            )
            for block in row_blocks(self.count, self.data.shape[1])
        ]


def score_targets(
    values: NDArray[np.float64],
    first_target: int,
    config: EngineConfig,
    n_targets: int | None = None,
    *,
    model_seconds: MutableMapping[str, float] | None = None,
) -> Scores:
    """Scores for target rows first_target .. first_target + n_targets - 1 of `values` (T, V).

    Rows before first_target are history only. A target whose inputs include a NaN, or a row before the
    start of `values`, is counted as skipped for that model, so any split of the targets into calls gives
    the same merged Scores. `model_seconds`, when given, gains each model's compute time.
    """
    data = np.asarray(values, dtype=np.float64)
    n_targets = _target_rows(data, first_target, n_targets)
    scores = Scores.zeros(data.shape[1], config)
    if n_targets == 0 or not config.models:
        return scores
    seconds = dict.fromkeys(config.models, 0.0)
    targets = _Targets(data, first_target, n_targets, config, warmup_rows(config))
    with np.errstate(invalid="ignore"):
        for _, rows, step_rows in targets.blocks():
            for h_index, horizon in enumerate(config.horizons):
                view = _HorizonView(rows, step_rows, horizon, config)
                for m_index, model in enumerate(config.models):
                    began = time.perf_counter()
                    forecast = forecast_from_history(view.history, horizon, model, config)
                    counts, sums, _ = view.score(forecast)
                    scores.counts[:, m_index, h_index, :] += counts
                    scores.sums[:, m_index, h_index, :] += sums
                    seconds[model] += time.perf_counter() - began
    if model_seconds is not None:
        for model, spent in seconds.items():
            model_seconds[model] = model_seconds.get(model, 0.0) + spent
    return scores


def score_forecasts(
    values: NDArray[np.float64],
    first_target: int,
    config: EngineConfig,
    forecasts: ForecastSet,
    levels: tuple[int, ...] = (),
) -> Scores:
    """Scores (one model) of forecasts made elsewhere for the targets first_target .. of `values` (T, V).

    The same rules as score_targets: the target, the scale at the origin and the direction test come from `values`;
    `forecasts.mean[h]` is the model's forecast of each target from its origin `config.horizons[h]` rows earlier.
    Interval scores fill the columns of `levels` (the run's levels) that the model has bounds for.
    """
    data = np.asarray(values, dtype=np.float64)
    n_targets = len(forecasts.mean[0]) if forecasts.mean else 0
    n_targets = _target_rows(data, first_target, n_targets)
    if len(forecasts.mean) != len(config.horizons):
        raise ValueError(f"forecasts hold {len(forecasts.mean)} horizon(s), the config {len(config.horizons)}")
    unknown = sorted(set(forecasts.levels) - set(levels))
    if unknown:
        raise ValueError(f"interval levels {unknown} are not among the run's levels {list(levels)}")
    scores = Scores.empty(data.shape[1], 1, len(config.horizons), levels)
    if n_targets == 0:
        return scores
    lookback = max(config.horizons) + scale_lookback(config)
    targets = _Targets(data, first_target, n_targets, config, lookback)
    with np.errstate(invalid="ignore"):
        for block, rows, step_rows in targets.blocks():
            for h_index, horizon in enumerate(config.horizons):
                view = _HorizonView(rows, step_rows, horizon, config)
                counts, sums, scored = view.score(forecasts.mean[h_index][block])
                scores.counts[:, 0, h_index, :] += counts
                scores.sums[:, 0, h_index, :] += sums
                for level in forecasts.levels:
                    lower, upper = forecasts.lower[level][h_index][block], forecasts.upper[level][h_index][block]
                    n, covered, winkler = interval_scores(view.actual, lower, upper, level, scored)
                    column = levels.index(level)
                    scores.interval_count_array[:, 0, h_index, column, _INTERVAL_N] += n
                    scores.interval_count_array[:, 0, h_index, column, _INTERVAL_COVERED] += covered
                    scores.interval_sum_array[:, 0, h_index, column] += winkler
    return scores


def _absolute_steps(
    data: NDArray[np.float64], first_target: int, end: int, lookback: int
) -> tuple[NDArray[np.float64], int]:
    """(steps, k0): steps[k - k0] = |y[k] - y[k-1]| for the rows k that the targets' scales read.

    Each step is computed once from the two rows it depends on, so windows of steps can be summed from
    views, with the same result in every batch. Row 0 has no step; it falls before k0 and reads as NaN.
    """
    start = max(0, first_target - lookback - 1)
    block = data[start:end]
    return np.abs(block[1:] - block[:-1]), start + 1


@dataclass
class _HorizonView:
    """The targets seen from their origins h rows earlier: what every model's score shares at horizon h."""

    rows: LaggedRows
    steps: LaggedRows
    horizon: int
    config: EngineConfig

    def __post_init__(self) -> None:
        w = self.config.window_length
        self.actual = self.rows.at(0)
        self.at_origin = self.history(0)
        self.scale = window_sum(self._step, w)
        self.scale /= w  # s = mean |y[k] - y[k-1]| over the w steps ending at the origin
        self.threshold = self.config.tolerance * self.scale
        # the scale window includes y[t], the reference of the direction test
        self.scale_known = ~np.isnan(self.scale)
        self.scale_positive = self.scale > 0
        # sign(a) == sign(b) as two comparisons: np.sign branches per element and is several times slower
        self.actual_rises = self.actual > self.at_origin
        self.actual_falls = self.actual < self.at_origin

    def history(self, j: int) -> NDArray[np.float64]:
        """y[t - j] for every origin t = target - horizon."""
        return self.rows.at(self.horizon + j)

    def _step(self, j: int) -> NDArray[np.float64]:
        return self.steps.at(self.horizon + j)

    def score(self, forecast: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
        """Per-series counts (V, len(COUNT_FIELDS)) and sums (V, len(SUM_FIELDS)) of one model's forecasts, and which
        targets were scored (n, V)."""
        abs_error = self.actual - forecast
        scored = ~np.isnan(abs_error)  # NaN when the target or an input of the model is
        scored &= self.scale_known
        np.abs(abs_error, out=abs_error)
        abs_error[~scored] = 0.0  # unscored targets add nothing to the sums

        success = abs_error <= self.threshold
        success &= scored
        hit = (forecast > self.at_origin) == self.actual_rises
        hit &= (forecast < self.at_origin) == self.actual_falls
        hit &= scored
        scaled = self.scale_positive & scored

        n = _count_true(scored)
        successes = _count_true(success)
        counts = np.empty((abs_error.shape[1], len(COUNT_FIELDS)), dtype=np.int64)
        counts[:, _N] = n
        counts[:, _SKIPPED] = abs_error.shape[0] - n
        counts[:, _SUCCESSES] = successes
        counts[:, _FAILURES] = n - successes
        counts[:, _HITS] = _count_true(hit)
        counts[:, _N_SCALED] = _count_true(scaled)

        sums = np.empty((abs_error.shape[1], len(SUM_FIELDS)), dtype=np.float64)
        sums[:, _ABS] = abs_error.sum(axis=0)
        sums[:, _SQUARED] = np.einsum("ij,ij->j", abs_error, abs_error)
        scaled_error = np.divide(abs_error, self.scale, out=np.zeros_like(abs_error), where=scaled)
        sums[:, _SCALED] = scaled_error.sum(axis=0)
        return counts, sums, scored


def _count_true(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Per-column count of True; summing the bytes as int32 is ~2x faster than count_nonzero(axis=0)."""
    counts: NDArray[np.int64] = mask.view(np.uint8).sum(axis=0, dtype=np.int32).astype(np.int64)
    return counts
