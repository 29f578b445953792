"""A Parquet file is opened and its footer parsed once per process while it is unchanged; threads share it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrodiction.data import (
    DataError,
    DataSource,
    describe,
    make_random_walks,
    parquet_format,
    read_frame,
    write_dataset,
)
from retrodiction.data.location import file_token, locate, open_random_access

START = datetime(2000, 1, 1)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    parquet_format.open_files.clear()
    yield
    parquet_format.open_files.clear()


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every time a Parquet file is opened (and so its footer read and parsed)."""
    calls: list[str] = []

    def counting_open(location: Any) -> Any:
        calls.append(location.path)
        return open_random_access(location)

    monkeypatch.setattr(parquet_format, "open_random_access", counting_open)
    return calls


def _write(path: Path, seed: int) -> np.ndarray[Any, Any]:
    frame = make_random_walks(3, 400, seed=seed)
    write_dataset(frame, str(path), row_group_size=50)
    return frame[["s0000", "s0001", "s0002"]].to_numpy()


def _week(source: DataSource, week: int) -> np.ndarray[Any, Any]:
    start = START + timedelta(days=7 * week)
    return read_frame(source, ["s0000", "s0001", "s0002"], start, start + timedelta(days=7)).values


def test_many_batches_from_one_file_open_it_once(tmp_path: Path, opens: list[str]) -> None:
    path = tmp_path / "d.parquet"
    values = _write(path, seed=1)
    source = DataSource(str(path))
    describe(source)
    for week in range(50):
        np.testing.assert_array_equal(_week(source, week), values[7 * week : 7 * week + 7])
    assert len(opens) == 1


def test_a_rewritten_file_of_the_same_size_is_opened_again(tmp_path: Path, opens: list[str]) -> None:
    path = tmp_path / "d.parquet"
    _write(path, seed=1)
    source = DataSource(str(path))
    _week(source, 0)
    before = path.stat()
    values = _write(path, seed=2)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == before.st_size
    np.testing.assert_array_equal(_week(source, 0), values[:7])
    assert len(opens) == 2


def test_threads_reading_one_file_each_get_their_own_rows(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    values = _write(path, seed=3)
    source = DataSource(str(path))
    with ThreadPoolExecutor(8) as pool:
        frames = list(pool.map(lambda week: _week(source, week), [week % 50 for week in range(400)]))
    for index, frame in enumerate(frames):
        week = index % 50
        np.testing.assert_array_equal(frame, values[7 * week : 7 * week + 7])


class _BrokenReader:
    """A reader whose file went away under it, as a dropped connection to an object store leaves it."""

    def read_row_groups(self, *args: object, **kwargs: object) -> None:
        raise OSError("connection reset by peer")


def test_a_read_that_failed_opens_the_file_afresh_next_time(tmp_path: Path, opens: list[str]) -> None:
    path = tmp_path / "d.parquet"
    values = _write(path, seed=4)
    source = DataSource(str(path))
    _week(source, 0)
    key = file_token(locate(source))
    entry = parquet_format.open_files.get(key)
    assert entry is not None
    broken = parquet_format._OpenFile(entry.time_statistics, _BrokenReader(), entry.columns)
    parquet_format.open_files.put(key, broken)
    with pytest.raises(DataError, match=r"spec\.data\.uri"):
        _week(source, 1)
    np.testing.assert_array_equal(_week(source, 1), values[7:14])
    assert len(opens) == 2


def test_only_the_most_recently_used_files_stay_open(tmp_path: Path, opens: list[str]) -> None:
    sources = []
    for i in range(parquet_format.CACHE_SIZE + 1):
        _write(tmp_path / f"d{i}.parquet", seed=i)
        sources.append(DataSource(str(tmp_path / f"d{i}.parquet")))
    for source in sources:
        _week(source, 0)
    _week(sources[-1], 1)
    assert len(opens) == parquet_format.CACHE_SIZE + 1
    _week(sources[0], 1)  # pushed out by the last one
    assert len(opens) == parquet_format.CACHE_SIZE + 2
