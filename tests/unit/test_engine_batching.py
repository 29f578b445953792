"""Merged Scores do not depend on how targets and series are split into calls (batches)."""

from __future__ import annotations

import itertools
from functools import reduce

import numpy as np
import pytest

from retrodiction.engine import EngineConfig, Scores, forecasts, lags, score_targets, warmup_rows

CONFIG = EngineConfig(horizons=(1, 3, 6), season_length=4, window_length=5, ses_alpha=0.3)
FIRST, END = 70, 260  # target rows scored by every layout


def grid_data() -> np.ndarray:
    """Values on a 0.01 grid: sums of such values round differently in different orders, and
    |e| = tolerance * s ties are common, so any order dependence shows up as a changed count."""
    rng = np.random.default_rng(7)
    values = np.round(np.cumsum(rng.integers(-3, 4, size=(END, 9)), axis=0) * 0.07 + 3.3, 2)
    values[rng.random(values.shape) < 0.02] = np.nan
    return values


def merged(parts: list[Scores]) -> Scores:
    return reduce(lambda a, b: a + b, parts)


def score_in_batches(values: np.ndarray, bounds: list[int], extra_history: int) -> Scores:
    """Each batch gets its target rows plus `extra_history` rows of history before them."""
    parts = []
    for start, end in itertools.pairwise(bounds):
        first_row = max(0, start - extra_history)
        parts.append(score_targets(values[first_row:end], start - first_row, CONFIG))
    return merged(parts)


@pytest.mark.parametrize(
    ("bounds", "extra_history"),
    [
        ([FIRST, 100, 101, 180, END], warmup_rows(CONFIG)),
        ([FIRST, *range(95, END, 25), END], warmup_rows(CONFIG) + 17),  # more history than needed
        ([FIRST, 71, 150, END], FIRST),  # every batch sees the data from row 0
    ],
    ids=["uneven", "extra-history", "from-row-0"],
)
def test_merged_scores_are_identical_for_every_split_of_the_targets(bounds: list[int], extra_history: int) -> None:
    values = grid_data()
    whole = score_targets(values, FIRST, CONFIG)

    split = score_in_batches(values, bounds, extra_history)

    np.testing.assert_array_equal(split.counts, whole.counts)
    np.testing.assert_allclose(split.sums, whole.sums, rtol=1e-12, atol=0)


def test_target_count_argument_matches_slicing_the_array() -> None:
    values = grid_data()
    trailing_rows_ignored = score_targets(values, FIRST, CONFIG, n_targets=90)
    sliced = score_targets(values[: FIRST + 90], FIRST, CONFIG)
    np.testing.assert_array_equal(trailing_rows_ignored.counts, sliced.counts)
    np.testing.assert_array_equal(trailing_rows_ignored.sums, sliced.sums)


def test_scores_of_a_group_of_series_equal_that_group_scored_with_all_series() -> None:
    values = grid_data()
    whole = score_targets(values, FIRST, CONFIG)

    groups = [score_targets(values[:, cols], FIRST, CONFIG) for cols in (slice(0, 2), slice(2, 9))]

    np.testing.assert_array_equal(np.concatenate([g.counts for g in groups]), whole.counts)
    np.testing.assert_allclose(np.concatenate([g.sums for g in groups]), whole.sums, rtol=1e-12, atol=0)


def test_short_history_batches_merge_to_the_same_scores_as_one_call_from_row_0() -> None:
    """Targets near the start lack history in every layout alike (batches are clipped at row 0)."""
    values = grid_data()[:120]
    whole = score_targets(values, 0, CONFIG)

    split = score_in_batches(values, [0, 13, 14, 60, 120], extra_history=warmup_rows(CONFIG))

    np.testing.assert_array_equal(split.counts, whole.counts)
    np.testing.assert_allclose(split.sums, whole.sums, rtol=1e-12, atol=0)


def test_cache_sized_blocks_inside_one_call_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls are evaluated in row blocks sized for the CPU cache; tiny blocks must give the same answer."""
    values = grid_data()
    origins = np.arange(-4, END - 1, dtype=np.int64)
    whole = score_targets(values, 0, CONFIG)
    whole_forecasts = {m: forecasts(values, origins, 3, m, CONFIG) for m in CONFIG.models}

    monkeypatch.setattr(lags, "_BLOCK_ELEMENTS", 1)  # blocks of the minimum row count

    blocked = score_targets(values, 0, CONFIG)
    np.testing.assert_array_equal(blocked.counts, whole.counts)
    np.testing.assert_allclose(blocked.sums, whole.sums, rtol=1e-12, atol=0)
    for model, expected in whole_forecasts.items():
        np.testing.assert_array_equal(forecasts(values, origins, 3, model, CONFIG), expected)
