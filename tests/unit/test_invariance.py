"""The summary does not depend on how the work is cut: batch length, variable groups, or completion order."""

from datetime import UTC, datetime
from typing import Any

import pytest

from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data import DataSource
from retrodiction.engine import EngineConfig
from tests.results import assert_same_results, in_process_results

VARIABLES = ["realgdp", "realinv", "cpi", "m1", "tbilrate", "unemp", "infl"]
START, END = datetime(1985, 1, 1, tzinfo=UTC), datetime(2009, 10, 1, tzinfo=UTC)
CONFIG = TrainingConfig(
    source=DataSource("builtin://macrodata"),
    engine=EngineConfig(horizons=(1, 3, 6), season_length=4, window_length=6, ses_alpha=0.4),
)


def summarise(batch_size_days: int, per_batch: int, shuffle_seed: int | None = None) -> list[dict[str, Any]]:
    coordinator = ParallelTrainingCoordinator(CONFIG)
    coordinator.prepare_training_batches(VARIABLES, START, END, batch_size_days, per_batch)
    return in_process_results(coordinator, shuffle_seed=shuffle_seed)


@pytest.fixture(scope="module")
def whole_window() -> list[dict[str, Any]]:
    return summarise(batch_size_days=100_000, per_batch=len(VARIABLES))


def test_the_reference_run_scores_every_target_of_the_window(whole_window: list[dict[str, Any]]) -> None:
    # 1985Q1 .. 2009Q3 is 99 quarters; each is scored or counted as skipped, never both, never twice.
    assert {row["n"] + row["skipped"] for row in whole_window} == {99}
    assert all(row["n"] > 0 for row in whole_window)


@pytest.mark.parametrize("days", [1, 30, 91, 365, 1000, 4000])
def test_batch_length_does_not_change_the_summary(days: int, whole_window: list[dict[str, Any]]) -> None:
    assert_same_results(summarise(batch_size_days=days, per_batch=3), whole_window)


@pytest.mark.parametrize("per_batch", [1, 2, 4, 7])
def test_variable_grouping_does_not_change_the_summary(per_batch: int, whole_window: list[dict[str, Any]]) -> None:
    assert_same_results(summarise(batch_size_days=365, per_batch=per_batch), whole_window)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_completion_order_does_not_change_the_summary(seed: int, whole_window: list[dict[str, Any]]) -> None:
    assert_same_results(summarise(batch_size_days=200, per_batch=2, shuffle_seed=seed), whole_window)
