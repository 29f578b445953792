"""Prediction intervals scored on the targets a model's point forecast was scored on: coverage and Winkler score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class ForecastSet:
    """One model's forecasts of a block of targets, one (targets, series) array per horizon of the config.

    `lower[level]` and `upper[level]` hold the bounds of the central `level`% prediction interval, per horizon in
    the same order as `mean`. NaN marks a target the model gave no forecast for (it is then skipped).
    """

    mean: Sequence[NDArray[np.float64]]
    lower: Mapping[int, Sequence[NDArray[np.float64]]] = field(default_factory=dict)
    upper: Mapping[int, Sequence[NDArray[np.float64]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.lower) != set(self.upper):
            raise ValueError(f"interval levels differ: lower {sorted(self.lower)}, upper {sorted(self.upper)}")
        shapes = {np.shape(block) for block in self.mean}
        for bounds in (*self.lower.values(), *self.upper.values()):
            if len(bounds) != len(self.mean):
                raise ValueError("interval bounds need one array per horizon, like the mean")
            shapes |= {np.shape(block) for block in bounds}
        if len(shapes) > 1:
            raise ValueError(f"forecast arrays must share one (targets, series) shape, got {sorted(shapes)}")

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(sorted(self.lower))


def winkler_scores(
    actual: NDArray[np.float64], lower: NDArray[np.float64], upper: NDArray[np.float64], level: int
) -> NDArray[np.float64]:
    """Winkler's interval score: the width, plus 2/alpha times the distance by which the actual lies outside."""
    alpha = 1.0 - level / 100.0
    below = np.maximum(lower - actual, 0.0)
    above = np.maximum(actual - upper, 0.0)
    penalty: NDArray[np.float64] = (upper - lower) + (2.0 / alpha) * (below + above)
    return penalty


def interval_scores(
    actual: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    level: int,
    scored: NDArray[np.bool_],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Per series: targets with an interval among the `scored` ones, how many it covered, their Winkler sum."""
    with_interval = scored & ~np.isnan(lower) & ~np.isnan(upper)
    covered = with_interval & (lower <= actual) & (actual <= upper)
    winkler = np.where(with_interval, winkler_scores(actual, lower, upper, level), 0.0)
    n: NDArray[np.int64] = with_interval.sum(axis=0, dtype=np.int64)
    hits: NDArray[np.int64] = covered.sum(axis=0, dtype=np.int64)
    return n, hits, winkler.sum(axis=0)
