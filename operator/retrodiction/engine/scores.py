"""Additive per-(variable, model, horizon) accumulators: merging batch results is addition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .config import EngineConfig

COUNT_FIELDS: tuple[str, ...] = ("n", "skipped", "successes", "failures", "direction_hits", "n_scaled")
SUM_FIELDS: tuple[str, ...] = ("sum_abs_error", "sum_squared_error", "sum_scaled_abs_error")


@dataclass
class Scores:
    counts: NDArray[np.int64]  # (V, M, H, len(COUNT_FIELDS))
    sums: NDArray[np.float64]  # (V, M, H, len(SUM_FIELDS))

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.int64)
        self.sums = np.asarray(self.sums, dtype=np.float64)
        if self.counts.ndim != 4 or self.counts.shape[-1] != len(COUNT_FIELDS):
            raise ValueError(f"counts must have shape (V, M, H, {len(COUNT_FIELDS)}), got {self.counts.shape}")
        if self.sums.shape != (*self.counts.shape[:3], len(SUM_FIELDS)):
            raise ValueError(f"sums must have shape {(*self.counts.shape[:3], len(SUM_FIELDS))}, got {self.sums.shape}")

    @classmethod
    def zeros(cls, n_variables: int, config: EngineConfig) -> Scores:
        cells = (n_variables, len(config.models), len(config.horizons))
        return cls(
            counts=np.zeros((*cells, len(COUNT_FIELDS)), dtype=np.int64),
            sums=np.zeros((*cells, len(SUM_FIELDS)), dtype=np.float64),
        )

    def __add__(self, other: Scores) -> Scores:
        if not isinstance(other, Scores):
            return NotImplemented
        if self.counts.shape != other.counts.shape:
            raise ValueError(f"cannot add Scores of shapes {self.counts.shape[:3]} and {other.counts.shape[:3]}")
        return Scores(counts=self.counts + other.counts, sums=self.sums + other.sums)

    def count(self, field: str) -> NDArray[np.int64]:
        return self.counts[..., _field_index(COUNT_FIELDS, field)]

    def total(self, field: str) -> NDArray[np.float64]:
        return self.sums[..., _field_index(SUM_FIELDS, field)]


def _field_index(fields: tuple[str, ...], field: str) -> int:
    try:
        return fields.index(field)
    except ValueError:
        raise KeyError(f"unknown field {field!r}; expected one of {list(fields)}") from None
