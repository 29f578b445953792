"""What the engine is asked to compute: models, horizons and their parameters."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

MODEL_NAMES: tuple[str, ...] = ("naive", "seasonal_naive", "window_average", "drift", "ses")

# SES truncates its exponentially decaying weights once they fall below this fraction of the first weight.
SES_WEIGHT_CUTOFF = 1e-9


def ses_terms(alpha: float) -> int:
    """K: the smallest k >= 1 with (1 - alpha)^k < 1e-9, i.e. how many past points SES weighs."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"ses_alpha must be in (0, 1], got {alpha!r}")
    decay = 1.0 - alpha
    if decay == 0.0:
        return 1
    if decay == 1.0:  # alpha <= 2**-54: 1 - alpha rounds to 1, and no power of 1 falls below the cutoff
        raise ValueError(f"ses_alpha {alpha!r} is too small: 1 - ses_alpha rounds to 1, so SES weights never decay")
    # A logarithm gives the answer in one step even for tiny alpha; the exact power test then settles
    # the rounding at the boundary so K follows the definition, not the logarithm's last bit.
    k = max(1, math.ceil(math.log(SES_WEIGHT_CUTOFF) / math.log(decay)) - 1)
    while decay**k >= SES_WEIGHT_CUTOFF:
        k += 1
    while k > 1 and decay ** (k - 1) < SES_WEIGHT_CUTOFF:
        k -= 1
    return k


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class EngineConfig:
    models: tuple[str, ...] = MODEL_NAMES
    horizons: tuple[int, ...] = (1,)
    season_length: int = 4
    window_length: int = 8
    ses_alpha: float = 0.3
    tolerance: float = 1.0

    def __post_init__(self) -> None:
        # Callers often hold lists (e.g. from a parsed spec); tuples keep the config hashable and immutable.
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "horizons", tuple(self.horizons))
        self._check_models()
        self._check_horizons()
        object.__setattr__(self, "horizons", tuple(int(h) for h in self.horizons))
        for name in ("season_length", "window_length"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.ses_alpha, (int, float)):
            raise ValueError(f"ses_alpha must be in (0, 1], got {self.ses_alpha!r}")
        ses_terms(self.ses_alpha)  # refuses an alpha out of range, or one whose weights never decay, before any batch
        if not isinstance(self.tolerance, (int, float)) or not math.isfinite(self.tolerance) or self.tolerance < 0:
            raise ValueError(f"tolerance must be a finite number >= 0, got {self.tolerance!r}")

    def _check_models(self) -> None:
        # No builtin at all is allowed: a run may score custom models only (the spec requires one model in all).
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        if unknown:
            raise ValueError(f"models: unknown model(s) {unknown}; known models are {list(MODEL_NAMES)}")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models must not repeat a model, got {list(self.models)}")

    def _check_horizons(self) -> None:
        if not self.horizons:
            raise ValueError("horizons must hold at least one horizon")
        bad = [h for h in self.horizons if not _is_int(h) or h < 1]
        if bad:
            raise ValueError(f"horizons must be integers >= 1, got {bad}")
        if len(set(self.horizons)) != len(self.horizons):
            raise ValueError(f"horizons must not repeat a horizon, got {list(self.horizons)}")
