"""A local run is sized to its plan: threads of the command's own process for a small run, worker processes for
a big one, never more workers than batches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retrodiction.batches import TrainingBatch
from retrodiction.engine.config import EngineConfig
from retrodiction.execution.sizing import THREADS_BELOW_SECONDS, estimated_seconds, local_pool

WHEN = datetime(2000, 1, 1, tzinfo=UTC)
FIVE_MODELS = EngineConfig(horizons=(1, 7, 28), season_length=7, window_length=28)


def plan(batches: int, *, targets: int, variables: int) -> list[TrainingBatch]:
    names = [f"s{i}" for i in range(variables)]
    return [TrainingBatch(f"b{i}", WHEN, WHEN, names, n_targets=targets) for i in range(batches)]


def test_the_startup_benchmark_panel_runs_on_threads() -> None:
    # benchmarks/cli_startup.py: 1,000 series, 500 one-step targets, three cheap models, 40 batches.
    engine = EngineConfig(models=("naive", "seasonal_naive", "window_average"), season_length=7, window_length=28)
    pool = local_pool(2, plan(40, targets=365, variables=50), engine)
    assert (pool.workers, pool.processes) == (2, False)


def test_the_scale_benchmark_panel_runs_on_worker_processes() -> None:
    # benchmarks/local_cluster.py: 2,000 series x 19 years, five models x three horizons, 800 batches.
    pool = local_pool(2, plan(800, targets=365, variables=50), FIVE_MODELS)
    assert (pool.workers, pool.processes) == (2, True)


def test_a_slow_ses_makes_a_run_big_sooner() -> None:
    batches = plan(40, targets=365, variables=50)
    slow = EngineConfig(horizons=(1, 7, 28), season_length=7, window_length=28, ses_alpha=0.01)
    fast = estimated_seconds(batches, FIVE_MODELS)
    assert fast is not None and fast < THREADS_BELOW_SECONDS
    assert local_pool(2, batches, slow).processes


def test_processes_can_be_asked_for_whatever_the_size() -> None:
    pool = local_pool(4, plan(3, targets=10, variables=1), FIVE_MODELS, processes=True)
    assert (pool.workers, pool.processes) == (3, True)


@pytest.mark.parametrize(("requested", "batches", "workers"), [(4, 2, 2), (2, 60, 2), (1, 60, 1)])
def test_no_more_workers_than_batches(requested: int, batches: int, workers: int) -> None:
    assert local_pool(requested, plan(batches, targets=10, variables=1), FIVE_MODELS).workers == workers


def test_a_model_of_unknown_cost_gets_worker_processes() -> None:
    engine = EngineConfig(models=("naive",))
    # A model the engine does not know yet (a custom forecaster): nothing here can tell what it costs.
    object.__setattr__(engine, "models", ("naive", "autoets"))
    assert estimated_seconds(plan(1, targets=10, variables=1), engine) is None
    assert local_pool(2, plan(2, targets=10, variables=1), engine).processes


def test_custom_models_get_worker_processes_however_small_the_builtins_work() -> None:
    # A run of custom models only: the engine has no builtin to estimate, and statsforecast's fits hold the GIL.
    pool = local_pool(2, plan(4, targets=12, variables=10), EngineConfig(models=()), custom_models=True)
    assert (pool.workers, pool.processes) == (2, True)
