"""A Parquet read keeps exactly the row groups whose time statistics can meet its window, for every time type."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrodiction.data import DataSource, read_frame
from retrodiction.data.row_groups import TimeStatistics

DAYS = 12  # daily rows from BASE, in row groups of 4: groups 0..2 hold days 0-3, 4-7, 8-11
BASE = np.datetime64("2000-01-01T00:00:00", "s")


def _times(kind: pa.DataType, base: np.datetime64 = BASE) -> pa.Array:
    moments = base + np.arange(DAYS) * np.timedelta64(1, "D")
    if pa.types.is_date(kind):
        return pa.array(moments.astype("datetime64[D]")).cast(kind)
    return pa.array(moments).cast(kind)


def _write(path: Path, times: pa.Array, **options: object) -> Path:
    table = pa.table({"date": times, "x": np.arange(DAYS, dtype=np.float64)})
    pq.write_table(table, path, row_group_size=4, **options)
    return path


def _statistics(path: Path) -> TimeStatistics:
    return TimeStatistics.from_metadata(pq.ParquetFile(path).metadata, "date")


TIME_TYPES = [
    pa.timestamp("s"),  # stored by Parquet as milliseconds
    pa.timestamp("ms"),
    pa.timestamp("us"),
    pa.timestamp("ns"),
    pa.timestamp("ns", tz="Europe/Paris"),  # stored as UTC
    pa.date32(),
    pa.date64(),  # stored by Parquet as days
]


@pytest.mark.parametrize("kind", TIME_TYPES, ids=str)
def test_a_window_keeps_only_the_row_groups_that_overlap_it(tmp_path: Path, kind: pa.DataType) -> None:
    statistics = _statistics(_write(tmp_path / "t.parquet", _times(kind)))
    day = datetime(2000, 1, 1)
    assert statistics.row_groups(day + timedelta(days=5), day + timedelta(days=6)) == [1]
    assert statistics.row_groups(day + timedelta(days=3), day + timedelta(days=9)) == [0, 1, 2]
    assert statistics.row_groups(day + timedelta(days=8), None) == [2]
    assert statistics.row_groups(None, day + timedelta(days=2)) == [0]
    assert statistics.row_groups(day + timedelta(days=40), None) == []
    assert statistics.row_groups(None, None) == [0, 1, 2]


def test_a_bound_inside_a_stored_unit_never_drops_that_units_rows(tmp_path: Path) -> None:
    statistics = _statistics(_write(tmp_path / "t.parquet", _times(pa.date32())))
    # Day 4 starts group 1; an end at noon of day 4 must keep it, since day 4's row is before that end.
    assert statistics.row_groups(datetime(2000, 1, 4, 12), datetime(2000, 1, 5, 12)) == [0, 1]


def test_times_before_1970_are_compared_as_the_signed_values_they_are(tmp_path: Path) -> None:
    base = np.datetime64("1969-12-25T00:00:00", "s")
    statistics = _statistics(_write(tmp_path / "t.parquet", _times(pa.timestamp("us"), base)))
    assert statistics.row_groups(datetime(1969, 12, 29), datetime(1969, 12, 30)) == [1]
    assert statistics.row_groups(datetime(1970, 1, 2), None) == [2]


@pytest.mark.parametrize(
    ("name", "times", "options"),
    [
        ("text", pa.array([str(t) for t in BASE + np.arange(DAYS) * np.timedelta64(1, "D")]), {}),
        ("int96", _times(pa.timestamp("ns")), {"use_deprecated_int96_timestamps": True}),
        ("no statistics", _times(pa.timestamp("ms")), {"write_statistics": False}),
    ],
)
def test_times_without_comparable_statistics_keep_every_row_group(
    tmp_path: Path, name: str, times: pa.Array, options: dict[str, object]
) -> None:
    path = _write(tmp_path / "t.parquet", times, **options)
    assert _statistics(path).row_groups(datetime(2000, 1, 6), datetime(2000, 1, 7)) == [0, 1, 2], name
    # The exact window is still cut after the times are parsed.
    frame = read_frame(DataSource(str(path)), ["x"], datetime(2000, 1, 6), datetime(2000, 1, 8))
    np.testing.assert_array_equal(frame.values[:, 0], [5.0, 6.0])


@pytest.mark.parametrize("kind", TIME_TYPES, ids=str)
def test_a_read_of_a_window_gives_its_rows_for_every_time_type(tmp_path: Path, kind: pa.DataType) -> None:
    path = _write(tmp_path / "t.parquet", _times(kind))
    frame = read_frame(DataSource(str(path)), ["x"], datetime(2000, 1, 4), datetime(2000, 1, 10))
    np.testing.assert_array_equal(frame.values[:, 0], [3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    expected = np.datetime64("2000-01-04", "ns") + np.arange(6) * np.timedelta64(1, "D")
    np.testing.assert_array_equal(frame.times, expected)
