"""Row blocks and lagged rows: how the engine reads values a fixed number of rows before each target or origin."""

from __future__ import annotations

import re

import numpy as np
import pytest

from retrodiction.engine.lags import LaggedRows, row_blocks

NAN = np.nan
VALUES = np.arange(10, dtype=np.float64).reshape(5, 2)  # row i holds (2i, 2i + 1)


@pytest.mark.parametrize(
    ("n_rows", "n_series", "expected"),
    [
        # 2^15 values (256 KiB of float64) a block: 32768 rows of one series, 8 rows of 4096 series
        (40_000, 1, [slice(0, 32_768), slice(32_768, 40_000)]),
        (20, 4096, [slice(0, 8), slice(8, 16), slice(16, 20)]),
        # but never fewer than 4 rows, and a table without series is one series wide
        (10, 100_000, [slice(0, 4), slice(4, 8), slice(8, 10)]),
        (40_000, 0, [slice(0, 32_768), slice(32_768, 40_000)]),
        (0, 3, []),
    ],
)
def test_row_blocks_cover_the_rows_in_cache_sized_slices(n_rows: int, n_series: int, expected: list[slice]) -> None:
    assert list(row_blocks(n_rows, n_series)) == expected


def test_consecutive_anchors_read_views_of_the_values_without_copying() -> None:
    rows = LaggedRows(VALUES, np.arange(2, 5), max_lag=2)

    np.testing.assert_array_equal(rows.at(0), VALUES[2:5])
    np.testing.assert_array_equal(rows.at(2), VALUES[0:3])
    assert np.shares_memory(rows.at(2), VALUES)


def test_consecutive_anchors_read_nan_before_the_first_row() -> None:
    rows = LaggedRows(VALUES, np.arange(0, 3), max_lag=2)

    np.testing.assert_array_equal(rows.at(2), [[NAN, NAN], [NAN, NAN], [0.0, 1.0]])
    np.testing.assert_array_equal(rows.at(0), VALUES[0:3])


def test_scattered_anchors_are_gathered_with_nan_before_the_first_row() -> None:
    rows = LaggedRows(VALUES, np.array([4, 0, 2, 2]), max_lag=2)

    np.testing.assert_array_equal(rows.at(1), [[6.0, 7.0], [NAN, NAN], [2.0, 3.0], [2.0, 3.0]])
    np.testing.assert_array_equal(rows.at(2), [[4.0, 5.0], [NAN, NAN], [0.0, 1.0], [0.0, 1.0]])


def test_no_anchors_give_empty_blocks_at_every_lag() -> None:
    rows = LaggedRows(VALUES, np.arange(0), max_lag=2)

    for lag in (0, 2):
        block = rows.at(lag)
        assert block.shape == (0, 2)
        assert block.dtype == np.float64


@pytest.mark.parametrize(
    ("values", "anchors", "message"),
    [
        (np.zeros(5), np.arange(2), "values must be a 2-D (rows, series) array, got shape (5,)"),
        (VALUES, np.zeros((1, 2), dtype=np.int64), "row indices must be a 1-D array, got shape (1, 2)"),
        (VALUES, np.arange(3, 6), "row index 5 is past the last row (4)"),
        (VALUES, np.array([5, 0]), "row index 5 is past the last row (4)"),
    ],
    ids=["values-1-D", "anchors-2-D", "consecutive-past-the-end", "scattered-past-the-end"],
)
def test_lagged_rows_reject_anchors_outside_the_values(values: np.ndarray, anchors: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        LaggedRows(values, anchors, max_lag=1)


@pytest.mark.parametrize("lag", [-1, 3])
def test_a_lag_outside_the_prepared_range_is_rejected(lag: int) -> None:
    rows = LaggedRows(VALUES, np.arange(2, 5), max_lag=2)
    with pytest.raises(ValueError, match=f"^{re.escape(f'lag {lag} is outside the prepared range 0..2')}$"):
        rows.at(lag)
