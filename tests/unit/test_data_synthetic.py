"""Synthetic random walks are reproducible per seed and round-trip through write_dataset and read_frame."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from retrodiction.data import DataSource, make_random_walks, read_frame, with_gaps, write_dataset


@pytest.fixture
def memory_dir() -> Iterator[str]:
    root = f"memory://test-{uuid.uuid4().hex}"
    yield root
    fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


def test_the_same_seed_gives_the_same_walks_and_another_seed_does_not() -> None:
    first = with_gaps(make_random_walks(5, 50, seed=3), 0.1, seed=3)
    pd.testing.assert_frame_equal(first, with_gaps(make_random_walks(5, 50, seed=3), 0.1, seed=3))
    other = with_gaps(make_random_walks(5, 50, seed=4), 0.1, seed=4)
    assert not np.allclose(first.iloc[:, 1:].to_numpy(), other.iloc[:, 1:].to_numpy(), equal_nan=True)


def test_walks_have_a_date_column_and_numbered_series_at_the_given_frequency() -> None:
    df = make_random_walks(3, 10, freq="W-SAT", start="2021-01-02")
    assert list(df.columns) == ["date", "s0000", "s0001", "s0002"]
    pd.testing.assert_index_equal(
        pd.DatetimeIndex(df["date"]), pd.date_range("2021-01-02", periods=10, freq="W-SAT"), check_names=False
    )
    assert all(dtype == np.float64 for dtype in df.dtypes.iloc[1:])
    assert not df.isna().to_numpy().any()


def test_series_names_widen_when_there_are_more_than_ten_thousand() -> None:
    names = list(make_random_walks(10_001, 1).columns[1:])
    assert names[0] == "s00000"
    assert names[-1] == "s10000"


def test_steps_are_standard_normal() -> None:
    steps = np.diff(make_random_walks(20, 5_000, seed=1).iloc[:, 1:].to_numpy(), axis=0)
    assert abs(steps.mean()) < 0.02
    assert abs(steps.std() - 1.0) < 0.02


def test_with_gaps_blanks_that_share_of_values_without_moving_the_rest() -> None:
    clean = make_random_walks(10, 2_000, seed=2)
    gappy = with_gaps(make_random_walks(10, 2_000, seed=2), 0.25, seed=2)
    mask = gappy.iloc[:, 1:].isna().to_numpy()
    assert 0.23 < mask.mean() < 0.27
    np.testing.assert_array_equal(gappy.iloc[:, 1:].to_numpy()[~mask], clean.iloc[:, 1:].to_numpy()[~mask])


@pytest.mark.parametrize("nan_fraction", [-0.1, 1.0])
def test_an_impossible_nan_fraction_is_refused(nan_fraction: float) -> None:
    with pytest.raises(ValueError, match="nan_fraction"):
        with_gaps(make_random_walks(1, 1), nan_fraction)


@pytest.mark.parametrize("name", ["w.parquet", "w.csv", "w.csv.gz"])
def test_written_datasets_read_back_to_the_same_values(memory_dir: str, name: str) -> None:
    df = with_gaps(make_random_walks(3, 30, freq="h"), 0.2)
    uri = f"{memory_dir}/{name}"
    write_dataset(df, uri, format="parquet" if name.endswith("parquet") else "csv")
    frame = read_frame(DataSource(uri), ["s0000", "s0001", "s0002"])
    np.testing.assert_array_equal(frame.times, df["date"].to_numpy())
    np.testing.assert_array_equal(frame.values, df.iloc[:, 1:].to_numpy())


def test_parquet_is_written_in_row_groups_of_the_given_size(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "w.parquet"
    write_dataset(make_random_walks(2, 1_000), str(path), row_group_size=100)
    assert pq.ParquetFile(path).metadata.num_row_groups == 10
