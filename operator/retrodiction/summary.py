"""Merging batch results into the summary document (its model and contract: retrodiction/api/summary.py)."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np

from retrodiction.api.summary import (
    SUMMARY_API_VERSION,
    BatchFailure,
    IntervalScore,
    ModelCost,
    RetrodictionSummary,
    SummaryBatches,
    SummaryConfig,
    SummaryResult,
    SummaryRun,
    Trust,
)
from retrodiction.engine import EngineConfig, Scores, beta_trust, derive_metrics
from retrodiction.execution.task import BatchResult
from retrodiction.identity import SUMMARY_KIND

# A summary names each failed batch; the error text is capped so thousands of failures stay readable.
MAX_ERROR_CHARS = 500


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (reference counting still frees), as it was before if it was off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _finite(value: float) -> float | None:
    # JSON has no NaN or infinity: a metric without any scored target is null, and so is one that overflowed
    # (values near the float limit squared), rather than a summary that cannot be written.
    return float(value) if math.isfinite(value) else None


class SummaryAccumulator:
    """Adds batch scores into one array per run; addition makes the result independent of batch order.

    The model axis holds the engine's builtins, then the custom models: `custom_models` maps each name, in order, to
    its prediction-interval levels."""

    def __init__(
        self,
        variables: Sequence[str],
        engine: EngineConfig,
        *,
        custom_models: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        self.variables = list(variables)
        self.engine = engine
        self.model_levels = {name: tuple(levels) for name, levels in (custom_models or {}).items()}
        self.models = [*engine.models, *self.model_levels]
        levels = tuple(sorted({level for model in self.model_levels.values() for level in model}))
        self._position = {name: i for i, name in enumerate(self.variables)}
        self.scores = Scores.empty(len(self.variables), len(self.models), len(engine.horizons), levels)
        self.succeeded: set[str] = set()
        self.failed: dict[str, str] = {}
        self.seconds = np.zeros(len(self.models))
        self.errors = np.zeros(len(self.models), dtype=np.int64)
        self.first_errors: list[str | None] = [None] * len(self.models)

    def add(self, result: BatchResult) -> None:
        """Merge one batch; adding the same batch twice is refused, so a replayed result cannot double-count."""
        if result.batch_id in self.succeeded or result.batch_id in self.failed:
            raise ValueError(f"batch {result.batch_id} was already merged")
        if not result.ok:
            self.failed[result.batch_id] = (result.error or "unknown error")[:MAX_ERROR_CHARS]
            return
        # A batch's variables are unique (the spec forbids duplicates), so fancy-indexed += is exact.
        rows = np.array([self._position[name] for name in result.variables], dtype=np.intp)
        self.scores.add_at(rows, result.scores())
        self._add_costs(result)
        self.succeeded.add(result.batch_id)

    def _add_costs(self, result: BatchResult) -> None:
        # Results written before per-model timing carry none; they add nothing rather than fail a resume.
        if len(result.model_seconds) == len(self.models):
            self.seconds += np.asarray(result.model_seconds)
        if len(result.model_errors) == len(self.models):
            self.errors += np.asarray(result.model_errors, dtype=np.int64)
            for index, first in enumerate(result.model_first_errors):
                # The batch with the smallest id wins, not the first to arrive: the same summary in any order.
                self.first_errors[index] = _earlier(self.first_errors[index], first, result.batch_id)

    def add_all(self, results: Iterable[BatchResult]) -> None:
        for result in results:
            self.add(result)

    def results(self) -> list[SummaryResult]:
        # Tens of thousands of small acyclic objects: the cyclic collector would scan the growing heap again and
        # again while they are made, half the time of the whole build.
        with gc_paused():
            return self._results()

    def _results(self) -> list[SummaryResult]:
        # Python lists, not numpy scalars: indexing 30,000 cells of a dozen arrays one by one costs seconds.
        scores = self.scores
        metrics = {name: values.tolist() for name, values in derive_metrics(scores).items()}
        successes, failures = scores.count("successes"), scores.count("failures")
        mean, lower, upper = (values.tolist() for values in beta_trust(successes, failures))
        n, skipped = scores.count("n").tolist(), scores.count("skipped").tolist()
        successes_at, failures_at = successes.tolist(), failures.tolist()
        mae, rmse, mase, direction = (metrics[name] for name in ("mae", "rmse", "mase", "directional_accuracy"))
        intervals = self._interval_lists()
        return [
            SummaryResult(
                variable=variable,
                model=model,
                horizon=horizon,
                n=n[v][m][h],
                skipped=skipped[v][m][h],
                mae=_finite(mae[v][m][h]),
                rmse=_finite(rmse[v][m][h]),
                mase=_finite(mase[v][m][h]),
                directional_accuracy=_finite(direction[v][m][h]),
                successes=successes_at[v][m][h],
                failures=failures_at[v][m][h],
                trust=Trust(mean=mean[v][m][h], lower=lower[v][m][h], upper=upper[v][m][h]),
                intervals=intervals(v, m, h),
            )
            for v, variable in enumerate(self.variables)
            for m, model in enumerate(self.models)
            for h, horizon in enumerate(self.engine.horizons)
        ]

    def _interval_lists(self) -> Callable[[int, int, int], list[IntervalScore]]:
        """The interval scores of one cell; the builtins have none, and most runs no level at all."""
        levels = self.scores.levels
        n = self.scores.interval_count("n").tolist()
        covered = self.scores.interval_count("covered").tolist()
        winkler = self.scores.interval_sum_array.tolist()
        chosen = [[i for i, level in enumerate(levels) if self._has_level(m, level)] for m in range(len(self.models))]

        def cell(v: int, m: int, h: int) -> list[IntervalScore]:
            return [
                IntervalScore(
                    level=levels[i],
                    n=n[v][m][h][i],
                    coverage=covered[v][m][h][i] / n[v][m][h][i] if n[v][m][h][i] else None,
                    winkler=winkler[v][m][h][i] / n[v][m][h][i] if n[v][m][h][i] else None,
                )
                for i in chosen[m]
            ]

        return cell

    def _has_level(self, m: int, level: int) -> bool:
        return level in self.model_levels.get(self.models[m], ())

    def costs(self) -> list[ModelCost]:
        return [
            ModelCost(
                model=model,
                seconds=round(float(self.seconds[index]), 6),
                errors=int(self.errors[index]),
                first_error=self.first_errors[index],
            )
            for index, model in enumerate(self.models)
        ]

    def summary(self, run: SummaryRun, config: SummaryConfig, total_batches: int) -> RetrodictionSummary:
        """The document for what has been merged so far."""
        return RetrodictionSummary(
            api_version=SUMMARY_API_VERSION,
            kind=SUMMARY_KIND,
            run=run,
            config=config,
            batches=SummaryBatches(
                total=total_batches,
                succeeded=len(self.succeeded),
                failed=len(self.failed),
                failures=[BatchFailure(batch_id=key, error=self.failed[key]) for key in sorted(self.failed)],
            ),
            results=self.results(),
            models=self.costs(),
        )


def _earlier(kept: str | None, candidate: str | None, batch_id: str) -> str | None:
    if candidate is None:
        return kept
    tagged = f"batch {batch_id}: {candidate}"[:MAX_ERROR_CHARS]
    return tagged if kept is None or tagged < kept else kept
