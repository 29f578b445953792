"""Progress of a run: counts, percentage and a remaining-time estimate from this session's throughput."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retrodiction.execution.task import BatchOutcome


@dataclass(frozen=True)
class Progress:
    """The counters of a run after a batch; `to_dict()` is what the seed API's progress callback receives."""

    total: int
    succeeded: int
    failed: int
    resumed: int
    elapsed_seconds: float
    estimated_remaining_seconds: float | None

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed

    @property
    def completed_percentage(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.completed / self.total, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "completed": self.completed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "resumed": self.resumed,
            "progress": f"{self.completed}/{self.total}",
            "completed_percentage": self.completed_percentage,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "estimated_remaining_seconds": (
                None if self.estimated_remaining_seconds is None else round(self.estimated_remaining_seconds, 1)
            ),
        }


class ProgressTracker:
    """Counts finished batches. Batches restored from a checkpoint count as done but not towards the rate."""

    def __init__(self, total: int, *, resumed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.resumed = resumed
        self.succeeded = resumed
        self.failed = 0
        self._clock = clock
        self._started = clock()

    def record(self, outcome: BatchOutcome) -> Progress:
        if outcome is BatchOutcome.SUCCEEDED:
            self.succeeded += 1
        else:
            self.failed += 1
        return self.snapshot()

    def snapshot(self) -> Progress:
        elapsed = self._clock() - self._started
        done_here = self.succeeded + self.failed - self.resumed
        remaining = self.total - self.succeeded - self.failed
        eta: float | None = None
        if remaining == 0:
            eta = 0.0
        elif done_here > 0 and elapsed > 0:
            eta = remaining * elapsed / done_here
        return Progress(self.total, self.succeeded, self.failed, self.resumed, elapsed, eta)
