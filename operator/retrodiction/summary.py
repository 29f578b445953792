"""Merging batch results into the summary document (its model and contract: retrodiction/api/summary.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from retrodiction.api.summary import (
    SUMMARY_API_VERSION,
    BatchFailure,
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
    # JSON has no NaN: a metric without any scored target is null.
    return None if math.isnan(value) else float(value)


class SummaryAccumulator:
    """Adds batch scores into one array per run; addition makes the result independent of batch order."""

    def __init__(self, variables: Sequence[str], engine: EngineConfig) -> None:
        self.variables = list(variables)
        self.engine = engine
        self._position = {name: i for i, name in enumerate(self.variables)}
        self.scores = Scores.zeros(len(self.variables), engine)
        self.succeeded: set[str] = set()
        self.failed: dict[str, str] = {}

    def add(self, result: BatchResult) -> None:
        """Merge one batch; adding the same batch twice is refused, so a replayed result cannot double-count."""
        if result.batch_id in self.succeeded or result.batch_id in self.failed:
            raise ValueError(f"batch {result.batch_id} was already merged")
        if not result.ok:
            self.failed[result.batch_id] = (result.error or "unknown error")[:MAX_ERROR_CHARS]
            return
        # A batch's variables are unique (the spec forbids duplicates), so fancy-indexed += is exact.
        rows = np.array([self._position[name] for name in result.variables], dtype=np.intp)
        part = result.scores()
        self.scores.counts[rows] += part.counts
        self.scores.sums[rows] += part.sums
        self.succeeded.add(result.batch_id)

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
            )
            for v, variable in enumerate(self.variables)
            for m, model in enumerate(self.engine.models)
            for h, horizon in enumerate(self.engine.horizons)
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
        )
