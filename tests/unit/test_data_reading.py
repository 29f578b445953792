"""Reading CSV and Parquet from local disk and memory://: same Frame everywhere, selections, time zones."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrodiction.data import DataSource, Frame, describe, read_frame

VARIABLES = ["a", "b"]


@pytest.fixture
def sample() -> pd.DataFrame:
    """Rows out of time order, a float column with a gap, an integer column and a text column."""
    times = pd.date_range("2020-01-01", periods=40, freq="D")
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "date": times,
            "a": rng.normal(size=40).round(6),
            "b": rng.integers(-50, 50, size=40),
            "label": [f"x{i}" for i in range(40)],
        }
    )
    frame.loc[5, "a"] = np.nan
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.fixture
def memory_dir() -> Iterator[str]:
    root = f"memory://test-{uuid.uuid4().hex}"
    yield root
    fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


def _expected(df: pd.DataFrame, variables: Sequence[str], start: str | None = None, end: str | None = None) -> Frame:
    rows = df.sort_values("date")
    if start is not None:
        rows = rows[rows["date"] >= pd.Timestamp(start)]
    if end is not None:
        rows = rows[rows["date"] < pd.Timestamp(end)]
    return Frame(
        times=rows["date"].to_numpy(dtype="datetime64[ns]"),
        values=rows[list(variables)].to_numpy(dtype=np.float64),
        variables=tuple(variables),
    )


def assert_same_frame(actual: Frame, expected: Frame) -> None:
    assert actual.variables == expected.variables
    assert actual.times.dtype == np.dtype("datetime64[ns]")
    assert actual.values.dtype == np.float64
    assert actual.values.flags.c_contiguous
    np.testing.assert_array_equal(actual.times, expected.times)
    np.testing.assert_array_equal(actual.values, expected.values)


def _write(df: pd.DataFrame, uri: str) -> None:
    with fsspec.open(uri, "wb", compression="infer") as file:
        if ".parquet" in uri:
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), file)
        else:
            file.write(df.to_csv(index=False).encode())


@pytest.mark.parametrize("name", ["data.csv", "data.csv.gz", "data.parquet"])
def test_local_and_memory_files_give_the_same_frame_as_the_data(
    sample: pd.DataFrame, tmp_path: Path, memory_dir: str, name: str
) -> None:
    local, memory = tmp_path / name, f"{memory_dir}/{name}"
    _write(sample, str(local))
    _write(sample, memory)
    expected = _expected(sample, VARIABLES)
    for uri in (str(local), local.as_uri(), memory):
        assert_same_frame(read_frame(DataSource(uri), VARIABLES), expected)


def test_csv_and_parquet_of_the_same_data_give_identical_frames(sample: pd.DataFrame, memory_dir: str) -> None:
    _write(sample, f"{memory_dir}/d.csv")
    _write(sample, f"{memory_dir}/d.parquet")
    from_csv = read_frame(DataSource(f"{memory_dir}/d.csv"), VARIABLES)
    from_parquet = read_frame(DataSource(f"{memory_dir}/d.parquet"), VARIABLES)
    assert_same_frame(from_csv, from_parquet)


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_time_range_is_half_open_and_variables_come_in_the_requested_order(
    sample: pd.DataFrame, memory_dir: str, name: str
) -> None:
    _write(sample, f"{memory_dir}/{name}")
    source = DataSource(f"{memory_dir}/{name}")
    frame = read_frame(source, ["b", "a"], datetime(2020, 1, 10), datetime(2020, 1, 20))
    assert_same_frame(frame, _expected(sample, ["b", "a"], "2020-01-10", "2020-01-20"))
    assert frame.times[0] == np.datetime64("2020-01-10")
    assert frame.times[-1] == np.datetime64("2020-01-19")


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_open_ended_and_empty_windows(sample: pd.DataFrame, memory_dir: str, name: str) -> None:
    _write(sample, f"{memory_dir}/{name}")
    source = DataSource(f"{memory_dir}/{name}")
    assert_same_frame(read_frame(source, ["a"], start=datetime(2020, 2, 1)), _expected(sample, ["a"], "2020-02-01"))
    assert_same_frame(read_frame(source, ["a"], end=datetime(2020, 1, 3)), _expected(sample, ["a"], None, "2020-01-03"))
    empty = read_frame(source, ["a"], datetime(2030, 1, 1), datetime(2031, 1, 1))
    assert empty.values.shape == (0, 1)
    assert empty.times.shape == (0,)


def test_integer_columns_become_float64(sample: pd.DataFrame, memory_dir: str) -> None:
    _write(sample, f"{memory_dir}/d.parquet")
    frame = read_frame(DataSource(f"{memory_dir}/d.parquet"), ["b"])
    np.testing.assert_array_equal(frame.values[:, 0], sample.sort_values("date")["b"].to_numpy(dtype=float))


def test_csv_times_with_offsets_are_converted_to_utc(memory_dir: str) -> None:
    text = "date,v\n2021-03-01T02:00:00+02:00,1\n2021-03-01T00:30:00Z,2\n2021-03-01T03:00:00-01:00,3\n"
    with fsspec.open(f"{memory_dir}/tz.csv", "w") as file:
        file.write(text)
    frame = read_frame(DataSource(f"{memory_dir}/tz.csv"), ["v"])
    expected = np.array(["2021-03-01T00:00", "2021-03-01T00:30", "2021-03-01T04:00"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(frame.times, expected)
    np.testing.assert_array_equal(frame.values[:, 0], [1.0, 2.0, 3.0])


def test_parquet_tz_aware_timestamps_are_converted_to_utc_and_windowed_in_utc(memory_dir: str) -> None:
    local = pd.date_range("2021-06-01 00:00", periods=48, freq="h", tz="Europe/Paris")
    table = pa.Table.from_pandas(pd.DataFrame({"date": local, "v": np.arange(48.0)}), preserve_index=False)
    with fsspec.open(f"{memory_dir}/tz.parquet", "wb") as file:
        pq.write_table(table, file, row_group_size=5)
    source = DataSource(f"{memory_dir}/tz.parquet")
    # Paris is UTC+2 in June.
    np.testing.assert_array_equal(
        read_frame(source, ["v"]).times, pd.date_range("2021-05-31 22:00", periods=48, freq="h").to_numpy()
    )
    window = read_frame(source, ["v"], datetime(2021, 6, 1, 3), datetime(2021, 6, 1, 6))
    np.testing.assert_array_equal(window.values[:, 0], [5.0, 6.0, 7.0])


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_aware_window_bounds_are_converted_to_utc(sample: pd.DataFrame, memory_dir: str, name: str) -> None:
    _write(sample, f"{memory_dir}/{name}")
    plus_five = timezone(timedelta(hours=5))
    frame = read_frame(
        DataSource(f"{memory_dir}/{name}"),
        ["a"],
        datetime(2020, 1, 10, 5, tzinfo=plus_five),  # 2020-01-10T00:00Z
        datetime(2020, 1, 12, 4, tzinfo=plus_five),  # 2020-01-11T23:00Z
    )
    np.testing.assert_array_equal(frame.times, np.array(["2020-01-10", "2020-01-11"], dtype="datetime64[ns]"))


@pytest.mark.parametrize(
    ("column", "start"),
    [
        (pa.array(pd.date_range("2020-01-01", periods=30).date, pa.date32()), datetime(2020, 1, 5, 12)),
        (pa.array(pd.date_range("2020-01-01", periods=30).strftime("%Y-%m-%d")), datetime(2020, 1, 5, 12)),
        (pa.array(pd.date_range("2020-01-01", periods=30), pa.timestamp("s")), datetime(2020, 1, 5, 0, 0, 1)),
    ],
    ids=["date32", "iso-text", "timestamp-seconds"],
)
def test_parquet_time_columns_of_other_types_are_read_and_windowed_exactly(
    memory_dir: str, column: pa.Array, start: datetime
) -> None:
    table = pa.table({"date": column, "v": np.arange(30.0)})
    with fsspec.open(f"{memory_dir}/t.parquet", "wb") as file:
        pq.write_table(table, file, row_group_size=4)
    frame = read_frame(DataSource(f"{memory_dir}/t.parquet"), ["v"], start, datetime(2020, 1, 9))
    # Rows at midnight: the 5th falls before a start later that day, so the window holds the 6th to the 8th.
    np.testing.assert_array_equal(frame.values[:, 0], [5.0, 6.0, 7.0])
    np.testing.assert_array_equal(frame.times, pd.date_range("2020-01-06", periods=3).to_numpy())


def test_format_can_be_given_when_the_name_does_not_tell(sample: pd.DataFrame, memory_dir: str) -> None:
    _write(sample, f"{memory_dir}/export.csv")
    fsspec.filesystem("memory").mv(f"{memory_dir}/export.csv", f"{memory_dir}/export.txt")
    frame = read_frame(DataSource(f"{memory_dir}/export.txt", format="csv"), VARIABLES)
    assert_same_frame(frame, _expected(sample, VARIABLES))


def test_another_time_column_name_can_be_used(sample: pd.DataFrame, memory_dir: str) -> None:
    _write(sample.rename(columns={"date": "ts"}), f"{memory_dir}/d.parquet")
    frame = read_frame(DataSource(f"{memory_dir}/d.parquet", time_column="ts"), VARIABLES)
    assert_same_frame(frame, _expected(sample, VARIABLES))


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_describe_gives_the_sorted_time_axis_and_which_columns_are_numeric(
    sample: pd.DataFrame, memory_dir: str, name: str
) -> None:
    _write(sample, f"{memory_dir}/{name}")
    info = describe(DataSource(f"{memory_dir}/{name}"))
    assert info.columns == {"a": True, "b": True, "label": False}
    np.testing.assert_array_equal(info.times, np.sort(sample["date"].to_numpy(dtype="datetime64[ns]")))


def test_sources_frames_and_info_survive_pickling_for_dask_workers(sample: pd.DataFrame, memory_dir: str) -> None:
    _write(sample, f"{memory_dir}/d.parquet")
    source = DataSource(f"{memory_dir}/d.parquet", storage_options={"client_kwargs": {"endpoint_url": "x"}})
    assert pickle.loads(pickle.dumps(source)) == source
    frame = pickle.loads(pickle.dumps(read_frame(source, VARIABLES)))
    assert_same_frame(frame, _expected(sample, VARIABLES))
