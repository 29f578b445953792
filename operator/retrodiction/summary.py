"""Merging batch results into the summary document (its model and contract: retrodiction/api/summary.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

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
        scores = self.scores
        metrics = derive_metrics(scores)
        successes, failures = scores.count("successes"), scores.count("failures")
        mean, lower, upper = beta_trust(successes, failures)
        n, skipped = scores.count("n"), scores.count("skipped")
        return [
            SummaryResult(
                variable=variable,
                model=model,
                horizon=horizon,
                n=int(n[v, m, h]),
                skipped=int(skipped[v, m, h]),
                mae=_finite(metrics["mae"][v, m, h]),
                rmse=_finite(metrics["rmse"][v, m, h]),
                mase=_finite(metrics["mase"][v, m, h]),
                directional_accuracy=_finite(metrics["directional_accuracy"][v, m, h]),
                successes=int(successes[v, m, h]),
                failures=int(failures[v, m, h]),
                trust=Trust(mean=float(mean[v, m, h]), lower=float(lower[v, m, h]), upper=float(upper[v, m, h])),
                intervals=self._intervals(v, m, h),
            )
            for v, variable in enumerate(self.variables)
            for m, model in enumerate(self.models)
            for h, horizon in enumerate(self.engine.horizons)
        ]

    def _intervals(self, v: int, m: int, h: int) -> list[IntervalScore]:
        n = self.scores.interval_count("n")[v, m, h]
        covered = self.scores.interval_count("covered")[v, m, h]
        winkler = self.scores.interval_sum_array[v, m, h]
        return [
            IntervalScore(
                level=level,
                n=int(n[index]),
                coverage=float(covered[index] / n[index]) if n[index] else None,
                winkler=float(winkler[index] / n[index]) if n[index] else None,
            )
            for index, level in enumerate(self.scores.levels)
            if self._has_level(m, level)
        ]

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
