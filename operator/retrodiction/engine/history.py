"""How many rows of history each computation reaches back from its origin."""

from __future__ import annotations

from .config import EngineConfig, ses_terms


def model_lookback(model: str, horizon: int, config: EngineConfig) -> int:
    """Rows before the origin t that `model` reads to forecast y[t + horizon]."""
    if model == "naive":
        return 0
    if model == "seasonal_naive":
        m = config.season_length
        return m * -(-horizon // m) - horizon  # t + h - m*ceil(h/m) lies this far before t
    if model == "window_average":
        return config.window_length - 1
    if model == "drift":
        return config.window_length
    if model == "ses":
        return ses_terms(config.ses_alpha) - 1
    raise ValueError(f"unknown model {model!r}")


def scale_lookback(config: EngineConfig) -> int:
    """Rows before the origin read by the scale s (mean absolute one-step change over the window)."""
    return config.window_length


def warmup_rows(config: EngineConfig) -> int:
    """Rows of history before the first target so that every model can score it (if no value is missing)."""
    return max(
        h + max([scale_lookback(config), *(model_lookback(m, h, config) for m in config.models)])
        for h in config.horizons
    )
