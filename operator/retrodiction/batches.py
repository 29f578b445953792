"""Batch planning: half-open time slices x variable groups, each with the warm-up history its models need.

A batch owns the targets whose time lies in its slice [start, end) and only loads the rows before `start` that
its models read. Every observation in the window is a target of exactly one time slice, and every variable is in
exactly one group, so every (target, variable) pair is scored by exactly one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrodiction.data.timeaxis import to_utc_naive


@dataclass
class TrainingBatch:
    """One unit of work: the targets of one time slice for one group of variables."""

    batch_id: str
    start_time: datetime
    end_time: datetime
    variables: list[str]
    # First row of history to read (the warm-up), None when the batch reads from the start of the data.
    load_start_time: datetime | None = None
    n_targets: int = 0
    # Rows the batch reads: its targets and the warm-up before them.
    n_rows: int = 0
    # The run-wide origin index of the first row the batch reads (0: the row before the window's first target).
    origin_index: int = 0
    processed: bool = False
    processing_time: float = 0.0
    results: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat(),
            "variables": list(self.variables),
            "load_start_time": self.load_start_time.isoformat() if self.load_start_time else None,
            "n_targets": self.n_targets,
            "processed": self.processed,
            "processing_time": self.processing_time,
            "error": self.error,
        }


@dataclass(frozen=True)
class BatchPlan:
    batches: list[TrainingBatch]
    # Time slices holding no observation are not batches; kept as a count so a plan can be explained.
    empty_slices: int = 0
    targets: int = 0
    notes: list[str] = field(default_factory=list)


def _to_datetime(value: np.datetime64) -> datetime:
    micros = value.astype("datetime64[us]").astype(np.int64)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


def slice_bounds(start: datetime, end: datetime, batch_size_days: int) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive half-open slices of `batch_size_days` (the last one may be shorter)."""
    if batch_size_days <= 0:
        raise ValueError("batch_size_days must be positive")
    if end <= start:
        raise ValueError("end must be after start")
    step = timedelta(days=batch_size_days)
    count = -(-(end - start) // step)
    return [(start + i * step, min(start + (i + 1) * step, end)) for i in range(count)]


def variable_groups(variables: Sequence[str], per_batch: int) -> list[list[str]]:
    if per_batch <= 0:
        raise ValueError("variables_per_batch must be positive")
    return [list(variables[i : i + per_batch]) for i in range(0, len(variables), per_batch)]


@dataclass(frozen=True)
class Batching:
    """How a run is cut into batches: days per time slice, variables per group, and the warm-up rows its models
    read before a slice's first target."""

    batch_size_days: int
    variables_per_batch: int
    warmup_rows: int


def plan_batches(
    times: NDArray[np.datetime64], variables: Sequence[str], start: datetime, end: datetime, batching: Batching
) -> BatchPlan:
    """Plan the batches of a run over the data's sorted, unique time index `times`."""
    warmup_rows = batching.warmup_rows
    slices = slice_bounds(start, end, batching.batch_size_days)
    groups = variable_groups(variables, batching.variables_per_batch)
    # One searchsorted for all slice bounds: planning 10^5 one-day slices stays instant.
    bounds = np.array([to_utc_naive(s) for s, _ in slices] + [to_utc_naive(slices[-1][1])])
    rows = np.searchsorted(times, bounds, side="left")
    width = max(6, len(str(len(slices) - 1)))
    window_first_origin = int(rows[0]) - 1
    batches: list[TrainingBatch] = []
    empty = 0
    for index, (slice_start, slice_end) in enumerate(slices):
        first, stop = int(rows[index]), int(rows[index + 1])
        if stop == first:
            empty += 1
            continue
        load_row = first - warmup_rows
        load_start = _to_datetime(times[load_row]) if load_row > 0 else None
        for group_index, group in enumerate(groups):
            batches.append(
                TrainingBatch(
                    batch_id=f"{index:0{width}d}-{group_index:04d}",
                    start_time=slice_start,
                    end_time=slice_end,
                    variables=group,
                    load_start_time=load_start,
                    n_targets=stop - first,
                    n_rows=stop - max(0, load_row),
                    origin_index=max(0, load_row) - window_first_origin,
                )
            )
    return BatchPlan(batches=batches, empty_slices=empty, targets=int(rows[-1] - rows[0]))
