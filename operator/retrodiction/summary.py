"""Merging batch results into the summary document (its model and contract: retrodiction/api/summary.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import TypeAdapter

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
)
from retrodiction.collector import gc_paused
from retrodiction.engine import EngineConfig, Scores, beta_trust, derive_metrics
from retrodiction.execution.task import BatchResult
from retrodiction.identity import SUMMARY_KIND

# Validates the results of a summary in one call (SummaryAccumulator._results).
_RESULTS = TypeAdapter(list[SummaryResult])

# A summary names each failed batch; the error text is capped so thousands of failures stay readable.
MAX_ERROR_CHARS = 500


def _flat(values: NDArray[Any]) -> list[Any]:
    """The cells of a (variables, models, horizons) array in the summary's order, as Python numbers."""
    flat: list[Any] = values.ravel().tolist()
    return flat


def _flat_finite(values: NDArray[np.float64]) -> list[float | None]:
    # JSON has no NaN or infinity: a metric without any scored target is null, and so is one that overflowed
    # (values near the float limit squared), rather than a summary that cannot be written.
    cells = values.ravel()
    kept = cells.astype(object)
    kept[~np.isfinite(cells)] = None
    flat: list[float | None] = kept.tolist()
    return flat


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
        # The results of variables whose batches are all merged, built while the run goes on (settle), by variable
        # index: the summary at the end builds only the rest. Merging more scores into a variable drops its entry.
        self._settled: dict[int, list[SummaryResult]] = {}

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
        if self._settled:
            for row in rows.tolist():
                self._settled.pop(row, None)
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

    def settle(self, variables: Iterable[str]) -> None:
        """Build the results of `variables` now, as the summary would: for variables whose batches are all merged.

        A run calls it as each group of variables completes, so the summary's biggest cost (tens of thousands of
        results) is paid while the workers compute rather than after the last batch, when they would be idle.
        The results are the same however the variables are settled (each cell depends on its own scores only)."""
        rows = [row for row in dict.fromkeys(self._position[name] for name in variables) if row not in self._settled]
        if not rows:
            return
        with gc_paused():
            self._settled.update(zip(rows, self._build(rows), strict=True))

    def unsettled(self) -> list[str]:
        """The variables whose results the summary has still to build, in order."""
        return [name for row, name in enumerate(self.variables) if row not in self._settled]

    def results(self) -> list[SummaryResult]:
        """Every variable's results, in the variables' order: those settled, and the rest built now."""
        # A copy: whoever asks for a summary while a run merges (another thread) sees one state of the entries.
        settled = dict(self._settled)
        with gc_paused():
            rest = [row for row in range(len(self.variables)) if row not in settled]
            fresh = dict(zip(rest, self._build(rest), strict=True)) if rest else {}
            return [
                result
                for row in range(len(self.variables))
                for result in (settled[row] if row in settled else fresh[row])
            ]

    def _build(self, rows: Sequence[int]) -> list[list[SummaryResult]]:
        """The results of the variables at `rows`, one list per variable (its models x horizons)."""
        # Tens of thousands of small acyclic objects: the cyclic collector would scan the growing heap again and
        # again while they are made, half the time of the whole build (callers pause it).
        built = self._results(rows, self.scores.select(rows))
        cells = len(self.models) * len(self.engine.horizons)
        return [built[index * cells : (index + 1) * cells] for index in range(len(rows))]

    def _results(self, rows: Sequence[int], scores: Scores) -> list[SummaryResult]:
        # Flat Python lists, one per field in the cells' order, walked together: indexing 30,000 cells of a dozen
        # numpy arrays one by one costs seconds, and of nested lists a third of the build.
        metrics = derive_metrics(scores)
        successes, failures = scores.count("successes"), scores.count("failures")
        mean, lower, upper = beta_trust(successes, failures)
        intervals = self._interval_lists(scores)
        cells = itertools.product(
            enumerate(self.variables[row] for row in rows), enumerate(self.models), enumerate(self.engine.horizons)
        )
        columns = zip(
            cells,
            *(_flat(scores.count(field)) for field in ("n", "skipped")),
            *(_flat_finite(metrics[name]) for name in ("mae", "rmse", "mase", "directional_accuracy")),
            _flat(successes),
            _flat(failures),
            *(_flat(values) for values in (mean, lower, upper)),
            strict=True,
        )
        # One validation of the whole list: pydantic-core builds the 30,000 results (and their trust) in one call,
        # a quarter faster than constructing each model in Python.
        return _RESULTS.validate_python(
            [
                {
                    "variable": variable,
                    "model": model,
                    "horizon": horizon,
                    "n": n,
                    "skipped": skipped,
                    "mae": mae,
                    "rmse": rmse,
                    "mase": mase,
                    "directional_accuracy": direction,
                    "successes": succeeded,
                    "failures": failed,
                    "trust": {"mean": trust_mean, "lower": trust_lower, "upper": trust_upper},
                    "intervals": intervals(v, m, h),
                }
                for (
                    ((v, variable), (m, model), (h, horizon)),
                    n,
                    skipped,
                    mae,
                    rmse,
                    mase,
                    direction,
                    succeeded,
                    failed,
                    trust_mean,
                    trust_lower,
                    trust_upper,
                ) in columns
            ]
        )

    def _interval_lists(self, scores: Scores) -> Callable[[int, int, int], list[IntervalScore]]:
        """The interval scores of one cell of `scores`; the builtins have none, and most runs no level at all."""
        levels = scores.levels
        n = scores.interval_count("n").tolist()
        covered = scores.interval_count("covered").tolist()
        winkler = scores.interval_sum_array.tolist()
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
