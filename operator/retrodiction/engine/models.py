"""The five forecasting rules, each computed for many origins and series at once."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from .config import MODEL_NAMES, EngineConfig, ses_terms
from .history import model_lookback
from .lags import LaggedRows, row_blocks

# y(j) -> the (n, V) block of values j rows before each origin.
History = Callable[[int], NDArray[np.float64]]


def window_sum(terms: Callable[[int], NDArray[np.float64]], length: int) -> NDArray[np.float64]:
    """terms(0) + terms(1) + ... + terms(length - 1), added one term at a time in that order.

    The fixed order makes each element's result independent of how many origins or series share the
    call, which keeps success counts bit-identical across batch layouts (a reduction such as np.sum may
    regroup the additions depending on array shape).
    """
    acc = np.array(terms(0), dtype=np.float64, copy=True)
    for j in range(1, length):
        acc += terms(j)
    return acc


def _naive(y: History, horizon: int, config: EngineConfig) -> NDArray[np.float64]:
    return np.array(y(0), copy=True)


def _seasonal_naive(y: History, horizon: int, config: EngineConfig) -> NDArray[np.float64]:
    return np.array(y(model_lookback("seasonal_naive", horizon, config)), copy=True)


def _window_average(y: History, horizon: int, config: EngineConfig) -> NDArray[np.float64]:
    acc = window_sum(y, config.window_length)
    acc /= config.window_length
    return acc


def _drift(y: History, horizon: int, config: EngineConfig) -> NDArray[np.float64]:
    last = y(0)
    slope_times_h = horizon * (last - y(config.window_length))
    slope_times_h /= config.window_length
    return last + slope_times_h


def _ses(y: History, horizon: int, config: EngineConfig) -> NDArray[np.float64]:
    alpha = config.ses_alpha
    weights = [alpha * (1.0 - alpha) ** j for j in range(ses_terms(alpha))]
    acc = weights[0] * y(0)
    term = np.empty_like(acc)
    weight_sum = weights[0]
    for j in range(1, len(weights)):
        np.multiply(weights[j], y(j), out=term)  # reuses one buffer instead of a temporary per term
        acc += term
        weight_sum += weights[j]
    acc /= weight_sum
    return acc


_MODELS: dict[str, Callable[[History, int, EngineConfig], NDArray[np.float64]]] = {
    "naive": _naive,
    "seasonal_naive": _seasonal_naive,
    "window_average": _window_average,
    "drift": _drift,
    "ses": _ses,
}
assert tuple(_MODELS) == MODEL_NAMES


def forecast_from_history(y: History, horizon: int, model: str, config: EngineConfig) -> NDArray[np.float64]:
    """Forecasts of y[t + horizon] for the origins t behind `y`; NaN wherever an input is NaN."""
    try:
        rule = _MODELS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; known models are {list(MODEL_NAMES)}") from None
    return rule(y, horizon, config)


def forecasts(
    values: NDArray[np.float64],
    origins: NDArray[np.int64],
    horizon: int,
    model: str,
    config: EngineConfig,
) -> NDArray[np.float64]:
    """Forecasts of y[origin + horizon] for every origin (rows) and series (columns) of `values` (T, V).

    NaN where an input is NaN or lies before the first row.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    if model not in _MODELS:
        raise ValueError(f"unknown model {model!r}; known models are {list(MODEL_NAMES)}")
    data = np.asarray(values, dtype=np.float64)
    rows = np.asarray(origins)
    if rows.dtype.kind not in "iu":
        raise ValueError(f"origins must be integer row indices, got dtype {rows.dtype}")
    if data.ndim != 2:
        raise ValueError(f"values must be a 2-D (rows, series) array, got shape {data.shape}")
    if rows.ndim != 1:
        raise ValueError(f"origins must be a 1-D array of row indices, got shape {rows.shape}")
    if len(rows) and int(rows.max()) >= len(data):
        raise ValueError(f"origin {int(rows.max())} is past the last row ({len(data) - 1})")
    rows = rows.astype(np.int64, copy=False)
    lookback = model_lookback(model, int(horizon), config)
    out = np.empty((len(rows), data.shape[1]), dtype=np.float64)
    for block in row_blocks(len(rows), data.shape[1]):
        lagged = LaggedRows(data, rows[block], lookback)
        out[block] = forecast_from_history(lagged.at, int(horizon), model, config)
    return out
