"""Bayesian trust: the Beta(1 + successes, 1 + failures) posterior of a model's success rate."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def beta_trust(
    successes: ArrayLike, failures: ArrayLike, level: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Mean and equal-tailed `level` credible interval (lower, upper) of Beta(1 + successes, 1 + failures)."""
    # Imported here: scipy.special takes a fifth of a second to import, and only the process that writes a
    # summary needs it, not the workers that import the engine to score batches.
    from scipy.special import betaincinv

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    s = np.asarray(successes, dtype=np.float64)
    f = np.asarray(failures, dtype=np.float64)
    if np.any(s < 0) or np.any(f < 0):
        raise ValueError("successes and failures must be >= 0")
    a, b = np.broadcast_arrays(1.0 + s, 1.0 + f)
    tail = (1.0 - level) / 2.0
    mean = np.asarray(a / (a + b), dtype=np.float64)
    lower = np.asarray(betaincinv(a, b, tail), dtype=np.float64)
    upper = np.asarray(betaincinv(a, b, 1.0 - tail), dtype=np.float64)
    return mean, lower, upper
