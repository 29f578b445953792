"""A deliberately slow, loop-per-everything retrodiction engine written straight from the definitions in
docs/architecture.md, "Engine semantics".

It shares no code with `retrodiction.engine`; the engine's tests compare the two on random data. Sums are
accumulated in the order the definitions fix (from the origin backwards), so the floating-point results of
a single target agree exactly and success counts can be compared with ==.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Series = Sequence[float]


def ses_term_count(alpha: float) -> int:
    k = 1
    while (1.0 - alpha) ** k >= 1e-9:
        k += 1
    return k


def value(y: Series, index: int) -> float | None:
    """y[index], or None when it lies before the data or is NaN (both count as missing)."""
    if index < 0 or math.isnan(y[index]):
        return None
    return float(y[index])


@dataclass(frozen=True)
class Definitions:
    """The settings the definitions are written in terms of (m, w, alpha, the tolerance), and what to score."""

    models: Sequence[str]
    horizons: Sequence[int]
    season_length: int
    window_length: int
    ses_alpha: float
    tolerance: float


def _naive(y: Series, t: int, h: int, d: Definitions) -> float | None:
    return value(y, t)


def _seasonal_naive(y: Series, t: int, h: int, d: Definitions) -> float | None:
    m = d.season_length
    return value(y, t + h - m * math.ceil(h / m))


def _window_average(y: Series, t: int, h: int, d: Definitions) -> float | None:
    window = [value(y, t - j) for j in range(d.window_length)]
    if any(v is None for v in window):
        return None
    total = 0.0
    for v in window:  # y[t], y[t-1], ...: the order the definitions fix
        assert v is not None
        total += v
    return total / d.window_length


def _drift(y: Series, t: int, h: int, d: Definitions) -> float | None:
    last, first = value(y, t), value(y, t - d.window_length)
    if last is None or first is None:
        return None
    return last + h * (last - first) / d.window_length


def _ses(y: Series, t: int, h: int, d: Definitions) -> float | None:
    alpha = d.ses_alpha
    numerator = 0.0
    weight_total = 0.0
    for j in range(ses_term_count(alpha)):
        v = value(y, t - j)
        if v is None:
            return None
        weight = alpha * (1.0 - alpha) ** j
        numerator += weight * v
        weight_total += weight
    return numerator / weight_total


_MODELS: dict[str, Callable[[Series, int, int, Definitions], float | None]] = {
    "naive": _naive,
    "seasonal_naive": _seasonal_naive,
    "window_average": _window_average,
    "drift": _drift,
    "ses": _ses,
}


def forecast(y: Series, t: int, h: int, model: str, definitions: Definitions) -> float | None:
    """The forecast of `model` made at origin t for t + h; None when the history it needs is missing."""
    if model not in _MODELS:
        raise ValueError(model)
    return _MODELS[model](y, t, h, definitions)


def scale(y: Series, t: int, window_length: int) -> float | None:
    """Mean |y[k] - y[k-1]| over k = t-w+1 .. t, summed from k = t backwards."""
    total = 0.0
    for k in range(t, t - window_length, -1):
        current, previous = value(y, k), value(y, k - 1)
        if current is None or previous is None:
            return None
        total += abs(current - previous)
    return total / window_length


def sign(x: float) -> int:
    return (x > 0) - (x < 0)


_CELL_FIELDS = (
    "n",
    "skipped",
    "successes",
    "failures",
    "direction_hits",
    "n_scaled",
    "sum_abs_error",
    "sum_squared_error",
    "sum_scaled_abs_error",
)


def score(
    columns: Sequence[Series], first_target: int, n_targets: int, definitions: Definitions
) -> dict[tuple[int, str, int], dict[str, float]]:
    """Per (variable, model, horizon): n, skipped, successes, failures, direction_hits, n_scaled and sums."""
    targets = range(first_target, first_target + n_targets)
    return {
        (v, model, h): _score_cell(y, model, h, targets, definitions)
        for v, y in enumerate(columns)
        for model in definitions.models
        for h in definitions.horizons
    }


def _score_cell(y: Series, model: str, h: int, targets: range, d: Definitions) -> dict[str, float]:
    cell = dict.fromkeys(_CELL_FIELDS, 0.0)
    for target in targets:
        t = target - h
        actual = value(y, target)
        at_origin = value(y, t)
        f = forecast(y, t, h, model, d)
        s = scale(y, t, d.window_length)
        if actual is None or at_origin is None or f is None or s is None:
            cell["skipped"] += 1
            continue
        e = actual - f
        cell["n"] += 1
        if abs(e) <= d.tolerance * s:
            cell["successes"] += 1
        else:
            cell["failures"] += 1
        if sign(f - at_origin) == sign(actual - at_origin):
            cell["direction_hits"] += 1
        cell["sum_abs_error"] += abs(e)
        cell["sum_squared_error"] += e * e
        if s > 0:
            cell["n_scaled"] += 1
            cell["sum_scaled_abs_error"] += abs(e) / s
    return cell
