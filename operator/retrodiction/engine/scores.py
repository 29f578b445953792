"""Additive per-(variable, model, horizon) accumulators: merging batch results is addition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .config import EngineConfig

COUNT_FIELDS: tuple[str, ...] = ("n", "skipped", "successes", "failures", "direction_hits", "n_scaled")
SUM_FIELDS: tuple[str, ...] = ("sum_abs_error", "sum_squared_error", "sum_scaled_abs_error")
# Per prediction-interval level: targets scored with an interval, and those inside it.
INTERVAL_COUNT_FIELDS: tuple[str, ...] = ("n", "covered")


@dataclass
class Scores:
    """Sums over scored targets per (variable, model, horizon), and per interval level for models that give one.

    `levels` is the run's sorted union of interval levels; a model without intervals (every builtin) has zeros in
    its interval cells, which keeps the arrays rectangular and merging a plain addition.
    """

    counts: NDArray[np.int64]  # (V, M, H, len(COUNT_FIELDS))
    sums: NDArray[np.float64]  # (V, M, H, len(SUM_FIELDS))
    levels: tuple[int, ...] = ()
    interval_counts: NDArray[np.int64] | None = None  # (V, M, H, L, len(INTERVAL_COUNT_FIELDS)); None: zeros
    interval_sums: NDArray[np.float64] | None = None  # (V, M, H, L): the Winkler scores' sum

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.int64)
        self.sums = np.asarray(self.sums, dtype=np.float64)
        self.levels = tuple(int(level) for level in self.levels)
        if self.counts.ndim != 4 or self.counts.shape[-1] != len(COUNT_FIELDS):
            raise ValueError(f"counts must have shape (V, M, H, {len(COUNT_FIELDS)}), got {self.counts.shape}")
        if self.sums.shape != (*self.counts.shape[:3], len(SUM_FIELDS)):
            raise ValueError(f"sums must have shape {(*self.counts.shape[:3], len(SUM_FIELDS))}, got {self.sums.shape}")
        cells = (*self.counts.shape[:3], len(self.levels))
        self.interval_counts = _array(self.interval_counts, (*cells, len(INTERVAL_COUNT_FIELDS)), np.int64)
        self.interval_sums = _array(self.interval_sums, cells, np.float64)

    @classmethod
    def zeros(cls, n_variables: int, config: EngineConfig) -> Scores:
        return cls.empty(n_variables, len(config.models), len(config.horizons))

    @classmethod
    def empty(cls, n_variables: int, n_models: int, n_horizons: int, levels: tuple[int, ...] = ()) -> Scores:
        cells = (n_variables, n_models, n_horizons)
        return cls(
            counts=np.zeros((*cells, len(COUNT_FIELDS)), dtype=np.int64),
            sums=np.zeros((*cells, len(SUM_FIELDS)), dtype=np.float64),
            levels=levels,
        )

    @classmethod
    def join_models(cls, parts: list[Scores]) -> Scores:
        """The model axes of `parts` side by side (the builtins' Scores, then one per custom model)."""
        if not parts:
            raise ValueError("join_models needs at least one Scores")
        levels = parts[0].levels
        if any(part.levels != levels for part in parts):
            raise ValueError("cannot join Scores of different interval levels")
        return cls(
            counts=np.concatenate([part.counts for part in parts], axis=1),
            sums=np.concatenate([part.sums for part in parts], axis=1),
            levels=levels,
            interval_counts=np.concatenate([part.interval_count_array for part in parts], axis=1),
            interval_sums=np.concatenate([part.interval_sum_array for part in parts], axis=1),
        )

    def __add__(self, other: Scores) -> Scores:
        if not isinstance(other, Scores):
            return NotImplemented
        if self.counts.shape != other.counts.shape or self.levels != other.levels:
            raise ValueError(
                f"cannot add Scores of shapes {self.counts.shape[:3]} (levels {list(self.levels)}) and "
                f"{other.counts.shape[:3]} (levels {list(other.levels)})"
            )
        return Scores(
            counts=self.counts + other.counts,
            sums=self.sums + other.sums,
            levels=self.levels,
            interval_counts=self.interval_count_array + other.interval_count_array,
            interval_sums=self.interval_sum_array + other.interval_sum_array,
        )

    def add_at(self, rows: NDArray[np.intp], part: Scores) -> None:
        """Add `part` into the variables `rows` of this Scores (rows unique: fancy-indexed += is then exact)."""
        if part.levels != self.levels:
            raise ValueError(f"cannot add Scores of levels {list(part.levels)} into levels {list(self.levels)}")
        self.counts[rows] += part.counts
        self.sums[rows] += part.sums
        self.interval_count_array[rows] += part.interval_count_array
        self.interval_sum_array[rows] += part.interval_sum_array

    def select(self, rows: ArrayLike) -> Scores:
        """The variables at `rows`, in that order, as Scores of their own (a copy)."""
        picked = np.asarray(rows, dtype=np.intp)
        return Scores(
            counts=self.counts[picked],
            sums=self.sums[picked],
            levels=self.levels,
            interval_counts=self.interval_count_array[picked],
            interval_sums=self.interval_sum_array[picked],
        )

    @property
    def interval_count_array(self) -> NDArray[np.int64]:
        assert self.interval_counts is not None  # set by __post_init__
        return self.interval_counts

    @property
    def interval_sum_array(self) -> NDArray[np.float64]:
        assert self.interval_sums is not None  # set by __post_init__
        return self.interval_sums

    def interval_count(self, field: str) -> NDArray[np.int64]:
        """(V, M, H, L) counts of one INTERVAL_COUNT_FIELDS field."""
        return self.interval_count_array[..., _field_index(INTERVAL_COUNT_FIELDS, field)]

    def count(self, field: str) -> NDArray[np.int64]:
        return self.counts[..., _field_index(COUNT_FIELDS, field)]

    def total(self, field: str) -> NDArray[np.float64]:
        return self.sums[..., _field_index(SUM_FIELDS, field)]


def _array(value: ArrayLike | None, shape: tuple[int, ...], dtype: type[np.generic]) -> NDArray[Any]:
    if value is None:
        return np.zeros(shape, dtype=dtype)
    array = np.asarray(value, dtype=dtype)
    if array.shape != shape:
        raise ValueError(f"interval scores must have shape {shape}, got {array.shape}")
    return array


def _field_index(fields: tuple[str, ...], field: str) -> int:
    try:
        return fields.index(field)
    except ValueError:
        raise KeyError(f"unknown field {field!r}; expected one of {list(fields)}") from None
