"""How a local run is sized: how many workers, and whether they are processes or threads of this process.

Worker processes scale numpy-bound batches across cores, but they need numpy, pandas, pyarrow and Dask imported
before their first batch: about a second of CPU on the CI machine class (once, in the command's forkserver:
worker_server.py), taken from the cores a small run would compute on. A run whose plan holds a couple of seconds
of work or less therefore runs on threads of this process, and no run starts more workers than it has batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retrodiction.batches import TrainingBatch
from retrodiction.engine.config import MODEL_NAMES, EngineConfig, ses_terms

# The engine adds about a billion terms (one value of one series at one origin) a second on one core of the CI
# machine class (docs/benchmarks.md: 208M scored forecasts of the five models in 4.5-5.5 s); half of that keeps
# the estimate on the safe side, where a run too big for threads is rarer than a small one in processes.
TERMS_PER_SECOND = 5e8
# Reading a batch's rows and Dask's own overhead (about 3 ms per batch, docs/benchmarks.md), rounded up.
SECONDS_PER_BATCH = 0.005
# Below this much estimated work, threads finish before worker processes would have started.
THREADS_BELOW_SECONDS = 2.0


@dataclass(frozen=True)
class LocalPool:
    """`workers` worker processes, or (`processes` False) `workers` threads of this process."""

    workers: int
    processes: bool

    def describe(self) -> str:
        if self.processes:
            return f"a local Dask cluster of {self.workers} worker process(es)"
        return f"{self.workers} thread(s) of this process (a small run)"


def terms_per_forecast(model: str, engine: EngineConfig) -> int:
    """Values a model adds up for one forecast, plus one for scoring it."""
    terms = {"window_average": engine.window_length, "drift": 2, "ses": ses_terms(engine.ses_alpha)}
    return terms.get(model, 1) + 1


def scoring_seconds(batches: Sequence[TrainingBatch], engine: EngineConfig) -> float | None:
    """Single-core seconds the engine would score the plan's batches in, or None for a model whose cost is
    unknown here."""
    if any(model not in MODEL_NAMES for model in engine.models):
        return None
    cells = sum(batch.n_targets * len(batch.variables) for batch in batches)
    return (
        cells
        * len(engine.horizons)
        * sum(terms_per_forecast(model, engine) for model in engine.models)
        / TERMS_PER_SECOND
    )


def estimated_seconds(batches: Sequence[TrainingBatch], engine: EngineConfig) -> float | None:
    """Single-core seconds the plan's batches would take, reading included, or None (scoring_seconds)."""
    scoring = scoring_seconds(batches, engine)
    return None if scoring is None else scoring + SECONDS_PER_BATCH * len(batches)


def local_pool(
    requested: int,
    batches: Sequence[TrainingBatch],
    engine: EngineConfig,
    *,
    processes: bool = False,
    custom_models: bool = False,
) -> LocalPool:
    """`requested` workers, no more than there are batches; threads when the work is small, unless `processes`.

    Custom models (statsforecast's or a plugin's) always get processes: their cost is unknown here, and most of
    them fit in Python code that holds the GIL, which threads would run one at a time."""
    workers = max(1, min(requested, len(batches)))
    if processes or custom_models:
        return LocalPool(workers, processes=True)
    seconds = estimated_seconds(batches, engine)
    return LocalPool(workers, processes=seconds is None or seconds >= THREADS_BELOW_SECONDS)
