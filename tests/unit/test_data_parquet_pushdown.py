"""Parquet reads fetch only the requested columns and the row groups that overlap the time window."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import fsspec
import numpy as np
import pandas as pd
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from retrodiction.data import DataSource, describe, make_random_walks, read_frame, write_dataset


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes, counter: list[int]) -> None:
        super().__init__(data)
        self._counter = counter

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._counter.append(len(chunk))
        return chunk

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self._counter.append(count)
        return count


class ByteCountingFileSystem(MemoryFileSystem):  # type: ignore[misc]
    """memory:// under the name counting://, recording every byte a reader takes out of a file."""

    protocol: ClassVar[tuple[str, ...]] = ("counting",)
    reads: ClassVar[list[int]] = []

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(super()._strip_protocol(path.removeprefix("counting://")))

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        file = super()._open(path, mode, *args, **kwargs)
        return _CountingReader(file.getvalue(), self.reads) if mode == "rb" else file


@pytest.fixture
def bytes_read() -> list[int]:
    fsspec.register_implementation("counting", ByteCountingFileSystem, clobber=True)
    ByteCountingFileSystem.reads = []
    return ByteCountingFileSystem.reads


@pytest.fixture
def big_file() -> Iterator[tuple[str, pd.DataFrame]]:
    """4 series x 200,000 hourly rows (about 9.6 MB) in 20 row groups of 10,000 rows (~95 kB per column)."""
    name = f"/pushdown-{uuid.uuid4().hex}/walks.parquet"
    df = make_random_walks(4, 200_000, freq="h", seed=1)
    write_dataset(df, f"memory://{name}", row_group_size=10_000)
    yield name, df
    fsspec.filesystem("memory").rm(name)


def test_a_narrow_read_fetches_only_its_row_group_of_two_columns(
    big_file: tuple[str, pd.DataFrame], bytes_read: list[int]
) -> None:
    name, df = big_file
    size = fsspec.filesystem("memory").size(name)
    # One week inside the third row group (rows 20,000-29,999).
    start = datetime(2000, 1, 1) + timedelta(hours=25_000)
    end = start + timedelta(days=7)

    frame = read_frame(DataSource(f"counting://{name}"), ["s0002"], start, end)

    in_window = df[(df["date"] >= start) & (df["date"] < end)]
    np.testing.assert_array_equal(frame.times, in_window["date"].to_numpy())
    np.testing.assert_array_equal(frame.values[:, 0], in_window["s0002"].to_numpy())
    # Footer (one 64 kB read) + the time and s0002 chunks of one row group: about 250 kB. Reading all five
    # columns of that row group would take about 550 kB, and both columns of every row group about 3.8 MB.
    assert sum(bytes_read) < size / 30


def test_reading_everything_fetches_about_the_whole_file(
    big_file: tuple[str, pd.DataFrame], bytes_read: list[int]
) -> None:
    # The counter is only evidence if it also sees the big reads.
    name, df = big_file
    size = fsspec.filesystem("memory").size(name)
    frame = read_frame(DataSource(f"counting://{name}"), [c for c in df.columns if c != "date"])
    assert frame.values.shape == (200_000, 4)
    assert sum(bytes_read) > 0.9 * size


def test_describe_fetches_only_the_time_column(big_file: tuple[str, pd.DataFrame], bytes_read: list[int]) -> None:
    name, df = big_file
    size = fsspec.filesystem("memory").size(name)
    info = describe(DataSource(f"counting://{name}"))
    np.testing.assert_array_equal(info.times, df["date"].to_numpy())
    # The time column is one of five of about the same size; any second column would pass size / 3.
    assert sum(bytes_read) < size / 3
