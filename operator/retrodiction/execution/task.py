"""The function a Dask worker runs for one batch, and the small result it sends back."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrodiction.data import DataError, DataSource, read_frame
from retrodiction.data.timeaxis import to_utc_naive
from retrodiction.engine import COUNT_FIELDS, INTERVAL_COUNT_FIELDS, SUM_FIELDS, EngineConfig, Scores
from retrodiction.execution.scoring import BatchScores, score_batch
from retrodiction.forecasters.plan import CustomModelPlan


@dataclass(frozen=True)
class BatchTask:
    """Everything a worker needs for one batch; small and picklable (the data is read on the worker)."""

    batch_id: str
    source: DataSource
    variables: tuple[str, ...]
    start: datetime
    end: datetime
    load_start: datetime | None
    engine: EngineConfig
    custom_models: tuple[CustomModelPlan, ...] = ()
    # The run-wide origin index of the first row the batch loads (custom models refit where it is a multiple of
    # refitEvery; see forecasters/rolling.py).
    origin_index: int = 0


class BatchOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class BatchResult:
    """Additive scores of one batch. `error` is set instead when the batch failed for good."""

    batch_id: str
    variables: tuple[str, ...]
    counts: NDArray[np.int64] | None
    sums: NDArray[np.float64] | None
    rows_loaded: int = 0
    targets: int = 0
    seconds: float = 0.0
    worker: str = ""
    error: str | None = None
    levels: tuple[int, ...] = ()
    interval_counts: NDArray[np.int64] | None = None
    interval_sums: NDArray[np.float64] | None = None
    # Per model, in the run's model order: compute seconds, and calls that raised with the first one's message.
    model_seconds: tuple[float, ...] = ()
    model_errors: tuple[int, ...] = ()
    model_first_errors: tuple[str | None, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def outcome(self) -> BatchOutcome:
        return BatchOutcome.SUCCEEDED if self.ok else BatchOutcome.FAILED

    def scores(self) -> Scores:
        if self.counts is None or self.sums is None:
            raise ValueError(f"batch {self.batch_id} has no scores: {self.error}")
        return Scores(
            counts=self.counts,
            sums=self.sums,
            levels=self.levels,
            interval_counts=self.interval_counts,
            interval_sums=self.interval_sums,
        )

    def to_dict(self) -> dict[str, Any]:
        # Python's float repr round-trips exactly, so a resumed run merges the very same numbers.
        return {
            "batchId": self.batch_id,
            "variables": list(self.variables),
            "countFields": list(COUNT_FIELDS),
            "sumFields": list(SUM_FIELDS),
            "counts": None if self.counts is None else self.counts.tolist(),
            "sums": None if self.sums is None else self.sums.tolist(),
            "rowsLoaded": self.rows_loaded,
            "targets": self.targets,
            "seconds": self.seconds,
            "worker": self.worker,
            "error": self.error,
            "levels": list(self.levels),
            "intervalCountFields": list(INTERVAL_COUNT_FIELDS),
            "intervalCounts": None if self.interval_counts is None else self.interval_counts.tolist(),
            "intervalSums": None if self.interval_sums is None else self.interval_sums.tolist(),
            "modelSeconds": list(self.model_seconds),
            "modelErrors": list(self.model_errors),
            "modelFirstErrors": list(self.model_first_errors),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BatchResult:
        if doc.get("countFields", list(COUNT_FIELDS)) != list(COUNT_FIELDS) or doc.get(
            "sumFields", list(SUM_FIELDS)
        ) != list(SUM_FIELDS):
            raise ValueError(f"checkpoint of batch {doc.get('batchId')} was written by an incompatible version")
        if doc.get("intervalCountFields", list(INTERVAL_COUNT_FIELDS)) != list(INTERVAL_COUNT_FIELDS):
            raise ValueError(f"checkpoint of batch {doc.get('batchId')} was written by an incompatible version")
        counts = doc.get("counts")
        sums = doc.get("sums")
        interval_counts, interval_sums = doc.get("intervalCounts"), doc.get("intervalSums")
        levels = tuple(int(level) for level in doc.get("levels", []))
        return cls(
            batch_id=str(doc["batchId"]),
            variables=tuple(doc["variables"]),
            counts=None if counts is None else np.asarray(counts, dtype=np.int64),
            sums=None if sums is None else np.asarray(sums, dtype=np.float64),
            rows_loaded=int(doc.get("rowsLoaded", 0)),
            targets=int(doc.get("targets", 0)),
            seconds=float(doc.get("seconds", 0.0)),
            worker=str(doc.get("worker", "")),
            error=doc.get("error"),
            levels=levels,
            # Without levels JSON keeps no trace of the empty axes: shapes come from the counts and the levels.
            interval_counts=_interval_array(interval_counts, counts, levels, np.int64, (len(INTERVAL_COUNT_FIELDS),)),
            interval_sums=_interval_array(interval_sums, counts, levels, np.float64, ()),
            model_seconds=tuple(float(value) for value in doc.get("modelSeconds", [])),
            model_errors=tuple(int(value) for value in doc.get("modelErrors", [])),
            model_first_errors=tuple(None if v is None else str(v) for v in doc.get("modelFirstErrors", [])),
        )


def _interval_array(
    values: Any, counts: Any, levels: tuple[int, ...], dtype: type[np.generic], tail: tuple[int, ...]
) -> NDArray[Any] | None:
    if values is None or counts is None:
        return None
    cells = np.shape(counts)[:3]
    return np.asarray(values, dtype=dtype).reshape(*cells, len(levels), *tail)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_batch(task: BatchTask) -> BatchResult:
    """Load the batch's rows and score its targets.

    Errors in the input (a DataError: missing variable, bad column, unreadable file) are permanent: they come
    back as a failed result instead of an exception, because retrying them would fail the same way. Anything
    else (a network blip, a lost worker) raises, and Dask retries the task.
    """
    began = time.perf_counter()
    try:
        frame = read_frame(task.source, task.variables, task.load_start, task.end)
        first_target = _row(frame.times, task.start)
        # A custom model that cannot be built here (a plugin missing from this image) is as permanent as bad data.
        scored = score_batch(frame.values, first_target, task.engine, task.custom_models, task.origin_index)
    except DataError as err:
        return _failed(task, err, began)
    return _result(task, scored, rows_loaded=len(frame.times), targets=len(frame.times) - first_target, began=began)


def run_batch_group(tasks: tuple[BatchTask, ...]) -> tuple[BatchResult, ...]:
    """run_batch for consecutive batches of the same variables (execution/grouping.py), reading their rows once.

    Each batch is scored on exactly the rows it would read alone, so its result is the one run_batch gives.
    When the group's rows cannot be read (a damaged row group, a bad value), each batch is read alone instead, so
    only the batches whose own rows are bad fail, as they would ungrouped. Anything else raises, and Dask retries
    the group.
    """
    if len(tasks) == 1:
        return (run_batch(tasks[0]),)
    first, last = tasks[0], tasks[-1]
    try:
        frame = read_frame(first.source, first.variables, first.load_start, last.end)
    except DataError:
        return tuple(run_batch(task) for task in tasks)
    results = []
    for task in tasks:
        task_began = time.perf_counter()
        low = 0 if task.load_start is None else _row(frame.times, task.load_start)
        high, first_target = _row(frame.times, task.end), _row(frame.times, task.start)
        try:
            scored = score_batch(
                frame.values[low:high], first_target - low, task.engine, task.custom_models, task.origin_index
            )
        except DataError as err:
            results.append(_failed(task, err, task_began))
            continue
        results.append(_result(task, scored, rows_loaded=high - low, targets=high - first_target, began=task_began))
    return tuple(results)


def _row(times: NDArray[np.datetime64], moment: datetime) -> int:
    """The index of the first row at or after `moment`: read_frame's own start <= t < end cut."""
    return int(np.searchsorted(times, to_utc_naive(moment), side="left"))


def _failed(task: BatchTask, err: DataError, began: float) -> BatchResult:
    return BatchResult(
        task.batch_id,
        task.variables,
        None,
        None,
        seconds=time.perf_counter() - began,
        worker=_worker_name(),
        # What the field and the rule say, not what the data holds: this text reaches the run's status.
        error=err.public,
    )


def _result(task: BatchTask, scored: BatchScores, *, rows_loaded: int, targets: int, began: float) -> BatchResult:
    scores = scored.scores
    return BatchResult(
        batch_id=task.batch_id,
        variables=task.variables,
        counts=scores.counts,
        sums=scores.sums,
        rows_loaded=rows_loaded,
        targets=targets,
        seconds=time.perf_counter() - began,
        worker=_worker_name(),
        levels=scores.levels,
        interval_counts=scores.interval_counts,
        interval_sums=scores.interval_sums,
        model_seconds=scored.seconds,
        model_errors=scored.errors,
        model_first_errors=scored.first_errors,
    )
