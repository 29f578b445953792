"""A CSV file is parsed once per process while it is unchanged, and parsed again once it changes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow.csv
import pytest

from retrodiction.data import DataSource, describe, read_frame
from retrodiction.data.csv_format import CACHE_SIZE, parsed_files


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    parsed_files.clear()
    yield
    parsed_files.clear()


@pytest.fixture
def full_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every whole-file CSV parse."""
    calls: list[str] = []
    original = pyarrow.csv.read_csv

    def counting_read_csv(source: object, *args: object, **kwargs: object) -> object:
        if kwargs.get("convert_options") is None:
            calls.append(str(getattr(source, "path", source)))
        return original(source, *args, **kwargs)

    monkeypatch.setattr(pyarrow.csv, "read_csv", counting_read_csv)
    return calls


def _write(path: Path, values: list[float]) -> None:
    rows = "".join(f"2020-01-{day:02d},{value}\n" for day, value in enumerate(values, start=1))
    path.write_text("date,v\n" + rows)


def test_many_batches_from_one_file_parse_it_once(tmp_path: Path, full_parses: list[str]) -> None:
    path = tmp_path / "d.csv"
    _write(path, [1.0, 2.0, 3.0, 4.0])
    source = DataSource(str(path))
    batches = [read_frame(source, ["v"], datetime(2020, 1, day), datetime(2020, 1, day + 1)) for day in (1, 2, 3, 4)]
    assert [batch.values[0, 0] for batch in batches] == [1.0, 2.0, 3.0, 4.0]
    assert len(full_parses) == 1


def test_a_rewritten_file_of_the_same_size_is_parsed_again(tmp_path: Path, full_parses: list[str]) -> None:
    path = tmp_path / "d.csv"
    _write(path, [1.0, 2.0])
    source = DataSource(str(path))
    assert read_frame(source, ["v"]).values[:, 0].tolist() == [1.0, 2.0]
    before = path.stat()
    _write(path, [5.0, 6.0])
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == before.st_size
    assert read_frame(source, ["v"]).values[:, 0].tolist() == [5.0, 6.0]
    assert len(full_parses) == 2


def test_frames_from_the_cache_are_copies_callers_may_change(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    _write(path, [1.0, 2.0])
    first = read_frame(DataSource(str(path)), ["v"])
    first.values[:] = 99.0
    first.times[:] = np.datetime64("1999-01-01")
    second = read_frame(DataSource(str(path)), ["v"])
    assert second.values[:, 0].tolist() == [1.0, 2.0]
    assert second.times[0] == np.datetime64("2020-01-01")


def test_the_cache_keeps_only_the_most_recently_used_files(tmp_path: Path, full_parses: list[str]) -> None:
    sources = []
    for i in range(CACHE_SIZE + 1):
        _write(tmp_path / f"d{i}.csv", [float(i)])
        sources.append(DataSource(str(tmp_path / f"d{i}.csv")))
    for source in sources:
        read_frame(source, ["v"])
    read_frame(sources[-1], ["v"])
    assert len(full_parses) == CACHE_SIZE + 1
    read_frame(sources[0], ["v"])  # pushed out by the last one
    assert len(full_parses) == CACHE_SIZE + 2


def test_describe_reuses_a_parse_already_in_the_cache(tmp_path: Path, full_parses: list[str]) -> None:
    path = tmp_path / "d.csv"
    _write(path, [1.0, 2.0, 3.0])
    frame = read_frame(DataSource(str(path)), ["v"])
    info = describe(DataSource(str(path)))
    np.testing.assert_array_equal(info.times, frame.times)
    assert info.columns == {"v": True}
    assert len(full_parses) == 1
