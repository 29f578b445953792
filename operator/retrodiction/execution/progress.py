"""Progress of a run: counts, percentage and a remaining-time estimate from this session's throughput."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    # Compute seconds per model over the batches merged in this session: where the time goes when one model costs
    # a thousand times another.
    model_seconds: Mapping[str, float] = field(default_factory=dict)

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
            "model_seconds": {model: round(seconds, 3) for model, seconds in self.model_seconds.items()},
        }

    def costliest_model(self) -> tuple[str, float] | None:
        """The model that took the most compute time so far, and its share of it."""
        total = sum(self.model_seconds.values())
        if total <= 0:
            return None
        model = max(self.model_seconds, key=lambda name: self.model_seconds[name])
        return model, self.model_seconds[model] / total


class ProgressTracker:
    """Counts finished batches. Batches restored from a checkpoint count as done but not towards the rate.

    The remaining time is estimated from work, not batch counts: each batch weighs its targets x variables (given as
    `work`), so a short last slice or a small variable group does not count as a whole batch.
    """

    def __init__(
        self,
        total: int,
        *,
        resumed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        total_work: float | None = None,
        resumed_work: float | None = None,
    ) -> None:
        self.total = total
        self.resumed = resumed
        self.succeeded = resumed
        self.failed = 0
        self.total_work = float(total if total_work is None else total_work)
        self.done_work = float(resumed if resumed_work is None else resumed_work)
        self._work_here = 0.0
        self.model_seconds: dict[str, float] = {}
        self._clock = clock
        self._started = clock()

    def record(
        self, outcome: BatchOutcome, *, work: float = 1.0, model_seconds: Mapping[str, float] | None = None
    ) -> Progress:
        if outcome is BatchOutcome.SUCCEEDED:
            self.succeeded += 1
        else:
            self.failed += 1
        self.done_work += work
        self._work_here += work
        for model, seconds in (model_seconds or {}).items():
            self.model_seconds[model] = self.model_seconds.get(model, 0.0) + seconds
        return self.snapshot()

    def snapshot(self) -> Progress:
        elapsed = self._clock() - self._started
        remaining = self.total - self.succeeded - self.failed
        eta: float | None = None
        if remaining == 0:
            eta = 0.0
        elif self._work_here > 0 and elapsed > 0:
            eta = max(0.0, self.total_work - self.done_work) * elapsed / self._work_here
        return Progress(
            self.total, self.succeeded, self.failed, self.resumed, elapsed, eta, model_seconds=dict(self.model_seconds)
        )
