"""Damped-trend exponential smoothing (additive errors), with its smoothing weight fitted by least squares.

The plugin interface is statsforecast's model interface, so the same object also runs inside
statsforecast.StatsForecast (which is how its forecasts are checked against statsforecast's cross_validation):

- `forecast(y, h, level=None)` fits on y and forecasts h steps: {"mean": (h,), "lo-80": (h,), "hi-80": (h,), ...};
- `fit(y)` fits and returns the fitted model; `forward(y, h, level=None)` forecasts from y with the fitted weights,
  which retrodiction training uses between refits (customModels[].refitEvery).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Candidate smoothing weights: a grid, so a fit is deterministic and needs no optimiser.
_ALPHAS = np.linspace(0.05, 1.0, 20)


def _filter(y: NDArray[np.float64], alpha: float, beta: float, phi: float) -> tuple[float, float, NDArray[np.float64]]:
    """Level and trend after the last observation, and the one-step errors along the way."""
    level, trend = float(y[0]), float(y[1] - y[0]) if len(y) > 1 else 0.0
    errors = np.empty(len(y) - 1)
    for i in range(1, len(y)):
        predicted = level + phi * trend
        errors[i - 1] = y[i] - predicted
        new_level = predicted + alpha * errors[i - 1]
        trend = phi * trend + beta * (new_level - level - phi * trend)
        level = new_level
    return level, trend, errors


@dataclass
class DampedTrend:
    """`phi` damps the trend (1: Holt's linear trend); `beta` is the trend's share of the level's weight."""

    phi: float = 0.9
    beta: float = 0.1
    alias: str = "DampedTrend"
    alpha_: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.phi <= 1.0:
            raise ValueError(f"phi must be in (0, 1], got {self.phi!r}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta!r}")

    def __repr__(self) -> str:
        return self.alias

    def new(self) -> DampedTrend:
        return DampedTrend(phi=self.phi, beta=self.beta, alias=self.alias)

    def fit(self, y: NDArray[np.float64], X: Any = None) -> DampedTrend:  # noqa: N803 - statsforecast's name
        series = _observations(y)
        costs = [float(np.sum(_filter(series, alpha, self.beta * alpha, self.phi)[2] ** 2)) for alpha in _ALPHAS]
        self.alpha_ = float(_ALPHAS[int(np.argmin(costs))])
        return self

    def forward(  # noqa: PLR0913, PLR0917 - statsforecast's model interface
        self,
        y: NDArray[np.float64],
        h: int,
        X: Any = None,  # noqa: N803 - statsforecast's name
        X_future: Any = None,  # noqa: N803 - statsforecast's name
        level: list[int] | None = None,
        fitted: bool = False,
    ) -> dict[str, NDArray[np.float64]]:
        if self.alpha_ is None:
            raise RuntimeError("call fit() before forward()")
        series = _observations(y)
        alpha = self.alpha_
        last_level, last_trend, errors = _filter(series, alpha, self.beta * alpha, self.phi)
        steps = np.arange(1, h + 1)
        damping = np.cumsum(self.phi**steps)
        result = {"mean": last_level + damping * last_trend}
        # Normal intervals whose variance grows with the horizon as for simple exponential smoothing.
        sigma = float(np.sqrt(np.mean(errors**2)))
        spread = sigma * np.sqrt(1.0 + (steps - 1) * alpha**2)
        for lv in level or []:
            z = NormalDist().inv_cdf(0.5 + lv / 200.0)
            result[f"lo-{lv}"] = result["mean"] - z * spread
            result[f"hi-{lv}"] = result["mean"] + z * spread
        return result

    def forecast(  # noqa: PLR0913, PLR0917 - statsforecast's model interface
        self,
        y: NDArray[np.float64],
        h: int,
        X: Any = None,  # noqa: N803 - statsforecast's name
        X_future: Any = None,  # noqa: N803 - statsforecast's name
        level: list[int] | None = None,
        fitted: bool = False,
    ) -> dict[str, NDArray[np.float64]]:
        return self.new().fit(y).forward(y, h, level=level)


def make(**params: Any) -> DampedTrend:
    """The entry point: a fresh model from the spec's customModels[].plugin.params."""
    return DampedTrend(**params)


def _observations(y: NDArray[np.float64]) -> NDArray[np.float64]:
    series = np.asarray(y, dtype=np.float64)
    if len(series) < 3:
        raise ValueError(f"DampedTrend needs at least 3 observations, got {len(series)}")
    return series
