"""A deliberately slow, loop-per-everything retrodiction engine written straight from the definitions in
docs/architecture.md, "Engine semantics".

It shares no code with `retrodiction.engine`; the engine's tests compare the two on random data. Sums are
accumulated in the order the definitions fix (from the origin backwards), so the floating-point results of
a single target agree exactly and success counts can be compared with ==.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def forecast(
    y: Series, t: int, h: int, model: str, *, season_length: int, window_length: int, ses_alpha: float
) -> float | None:
    if model == "naive":
        return value(y, t)
    if model == "seasonal_naive":
        m = season_length
        return value(y, t + h - m * math.ceil(h / m))
    if model == "window_average":
        window = [value(y, t - j) for j in range(window_length)]
        if any(v is None for v in window):
            return None
        total = 0.0
        for v in window:  # y[t], y[t-1], ...: the order the definitions fix
            assert v is not None
            total += v
        return total / window_length
    if model == "drift":
        last, first = value(y, t), value(y, t - window_length)
        if last is None or first is None:
            return None
        return last + h * (last - first) / window_length
    if model == "ses":
        k = ses_term_count(ses_alpha)
        numerator = 0.0
        weight_total = 0.0
        for j in range(k):
            v = value(y, t - j)
            if v is None:
                return None
            weight = ses_alpha * (1.0 - ses_alpha) ** j
            numerator += weight * v
            weight_total += weight
        return numerator / weight_total
    raise ValueError(model)


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


def score(
    columns: Sequence[Series],
    first_target: int,
    n_targets: int,
    *,
    models: Sequence[str],
    horizons: Sequence[int],
    season_length: int,
    window_length: int,
    ses_alpha: float,
    tolerance: float,
) -> dict[tuple[int, str, int], dict[str, float]]:
    """Per (variable, model, horizon): n, skipped, successes, failures, direction_hits, n_scaled and sums."""
    results: dict[tuple[int, str, int], dict[str, float]] = {}
    for v, y in enumerate(columns):
        for model in models:
            for h in horizons:
                cell = dict.fromkeys(
                    (
                        "n",
                        "skipped",
                        "successes",
                        "failures",
                        "direction_hits",
                        "n_scaled",
                        "sum_abs_error",
                        "sum_squared_error",
                        "sum_scaled_abs_error",
                    ),
                    0.0,
                )
                for target in range(first_target, first_target + n_targets):
                    t = target - h
                    actual = value(y, target)
                    at_origin = value(y, t)
                    f = forecast(
                        y,
                        t,
                        h,
                        model,
                        season_length=season_length,
                        window_length=window_length,
                        ses_alpha=ses_alpha,
                    )
                    s = scale(y, t, window_length)
                    if actual is None or at_origin is None or f is None or s is None:
                        cell["skipped"] += 1
                        continue
                    e = actual - f
                    cell["n"] += 1
                    if abs(e) <= tolerance * s:
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
                results[(v, model, h)] = cell
    return results
