"""Summary metrics derived from merged Scores."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .scores import Scores


def _ratio(numerator: NDArray[np.float64], denominator: NDArray[np.int64]) -> NDArray[np.float64]:
    """numerator / denominator, NaN where the denominator is 0 (the metric is undefined there)."""
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def derive_metrics(scores: Scores) -> dict[str, NDArray[np.float64]]:
    """mae, rmse, mase and directional_accuracy per (variable, model, horizon); NaN where undefined."""
    n = scores.count("n")
    return {
        "mae": _ratio(scores.total("sum_abs_error"), n),
        "rmse": np.sqrt(_ratio(scores.total("sum_squared_error"), n)),
        "mase": _ratio(scores.total("sum_scaled_abs_error"), scores.count("n_scaled")),
        "directional_accuracy": _ratio(scores.count("direction_hits").astype(np.float64), n),
    }
