"""Every problem with a data source is a DataError on the spec field to fix, with a one-line message."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrodiction.data import DataError, DataSource, describe, read_frame


@pytest.fixture
def memory_dir() -> Iterator[str]:
    root = f"memory://test-{uuid.uuid4().hex}"
    yield root
    fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


def _put_text(uri: str, text: str) -> str:
    with fsspec.open(uri, "w") as file:
        file.write(text)
    return uri


def _put_parquet(uri: str, table: pa.Table) -> str:
    with fsspec.open(uri, "wb") as file:
        pq.write_table(table, file)
    return uri


def _raised(call: Callable[[], object]) -> DataError:
    with pytest.raises(DataError) as caught:
        call()
    error = caught.value
    assert "\n" not in str(error)
    assert "Traceback" not in str(error)
    assert error.public == f"{error.field}: {error.message}"
    assert str(error) == (f"{error.public}; {error.detail}" if error.detail else error.public)
    assert "\n" not in (error.detail or "")
    return error


def _both_entry_points(source: DataSource, variables: list[str]) -> list[DataError]:
    return [_raised(lambda: read_frame(source, variables)), _raised(lambda: describe(source))]


@pytest.mark.parametrize(
    ("uri", "expected_words"),
    [
        ("builtin://nosuch", "unknown builtin dataset 'nosuch'"),
        ("/no/such/file.csv", "no such file or object"),
        ("file:///no/such/file.parquet", "no such file or object"),
        ("nosuchproto://bucket/x.csv", "nosuchproto"),
    ],
)
def test_unreadable_uris_are_uri_errors(uri: str, expected_words: str) -> None:
    for error in _both_entry_points(DataSource(uri), ["x"]):
        assert error.field == "spec.data.uri"
        assert expected_words in error.message


def test_a_directory_is_a_uri_error(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    error = _raised(lambda: read_frame(DataSource(str(tmp_path / "d.csv")), ["x"]))
    assert error.field == "spec.data.uri"


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_missing_time_column_is_a_time_column_error_naming_the_columns(memory_dir: str, name: str) -> None:
    uri = f"{memory_dir}/{name}"
    if name.endswith(".csv"):
        _put_text(uri, "when,v\n2020-01-01,1\n")
    else:
        _put_parquet(uri, pa.table({"when": pa.array([0], pa.timestamp("s")), "v": [1.0]}))
    for error in _both_entry_points(DataSource(uri), ["v"]):
        assert error.field == "spec.data.timeColumn"
        assert "'date'" in error.message
        # The columns the data has are shown to a person (the CLI), never written into a run's status.
        assert "when" in str(error) and "when" not in error.public


@pytest.mark.parametrize(
    ("text", "expected_words"),
    [
        ("date,v\n2020-01-01,1\nnot a date,2\n", "ISO 8601"),
        ("date,v\n2020-01-01,1\n2020-01-02,2\n2020-01-01,3\n", "duplicate"),
        ("date,v\n2020-01-01,1\n,2\n", "empty"),
        ("date,v\n1,1\n2,2\n", "type int64"),
    ],
    ids=["unparseable", "duplicate", "empty", "numbers"],
)
def test_bad_time_values_are_time_column_errors(memory_dir: str, text: str, expected_words: str) -> None:
    uri = _put_text(f"{memory_dir}/t-{uuid.uuid4().hex}.csv", text)
    for error in _both_entry_points(DataSource(uri), ["v"]):
        assert error.field == "spec.data.timeColumn"
        assert expected_words in error.message


def test_duplicate_timestamps_in_parquet_are_a_time_column_error(memory_dir: str) -> None:
    times = pa.array(np.array(["2020-01-01", "2020-01-01"], dtype="datetime64[ns]"))
    uri = _put_parquet(f"{memory_dir}/dup.parquet", pa.table({"date": times, "v": [1.0, 2.0]}))
    for error in _both_entry_points(DataSource(uri), ["v"]):
        assert error.field == "spec.data.timeColumn"
        assert "2020-01-01" in str(error) and "2020-01-01" not in error.public


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_unknown_variables_are_named_with_what_is_available(memory_dir: str, name: str) -> None:
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=3), "alpha": 1.0, "beta": 2.0})
    uri = f"{memory_dir}/{name}"
    if name.endswith(".csv"):
        _put_text(uri, frame.to_csv(index=False))
    else:
        _put_parquet(uri, pa.Table.from_pandas(frame, preserve_index=False))
    error = _raised(lambda: read_frame(DataSource(uri), ["alpha", "gamma", "delta"]))
    assert error.field == "spec.variables"
    assert "gamma" in error.message
    assert "delta" in error.message
    assert "available: alpha, beta" in str(error) and "alpha" not in error.public
    info_error = _raised(lambda: describe(DataSource(uri)).check_variables(["gamma"]))
    assert info_error.message.startswith("not in the data: gamma")


def test_the_list_of_available_variables_is_cut_short_for_wide_data(memory_dir: str) -> None:
    columns = {f"series_{i:05d}": [1.0] for i in range(5000)}
    uri = _put_parquet(f"{memory_dir}/wide.parquet", pa.table({"date": pa.array([0], pa.timestamp("s")), **columns}))
    error = _raised(lambda: read_frame(DataSource(uri), ["nope"]))
    assert "series_00000" in str(error)
    assert "series_04999" not in str(error)
    assert "more" in str(error)
    assert len(str(error)) < 1000


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_a_non_numeric_variable_is_a_variables_error_naming_it(memory_dir: str, name: str) -> None:
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=3), "v": 1.0, "label": ["a", "b", "c"]})
    uri = f"{memory_dir}/{name}"
    if name.endswith(".csv"):
        _put_text(uri, frame.to_csv(index=False))
    else:
        _put_parquet(uri, pa.Table.from_pandas(frame, preserve_index=False))
    error = _raised(lambda: read_frame(DataSource(uri), ["v", "label"]))
    assert error.field == "spec.variables"
    assert error.message == "not numeric: label"


def test_a_variable_listed_twice_is_a_variables_error() -> None:
    error = _raised(lambda: read_frame(DataSource("builtin://macrodata"), ["cpi", "cpi"]))
    assert error.field == "spec.variables"
    assert "cpi" in error.message


@pytest.mark.parametrize(
    ("source", "expected_words"),
    [
        (DataSource("builtin://macrodata", format="xlsx"), "xlsx"),  # type: ignore[arg-type]
        (DataSource("/data/series.json"), "series.json"),
    ],
    ids=["unknown-format", "unknown-extension"],
)
def test_format_problems_are_format_errors(source: DataSource, expected_words: str) -> None:
    for error in _both_entry_points(source, ["x"]):
        assert error.field == "spec.data.format"
        assert expected_words in error.message


def test_a_file_that_is_not_parquet_is_a_format_error(memory_dir: str) -> None:
    uri = _put_text(f"{memory_dir}/fake.parquet", "date,v\n2020-01-01,1\n")
    for error in _both_entry_points(DataSource(uri), ["v"]):
        assert error.field == "spec.data.format"
        assert "parquet" in error.message


def test_data_errors_keep_field_and_message_through_pickling() -> None:
    error = DataError("spec.variables", "not in the data:\n x", "available:\n y")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, copy.message, copy.detail) == ("spec.variables", "not in the data: x", "available: y")
    assert str(copy) == "spec.variables: not in the data: x; available: y"
    assert copy.public == "spec.variables: not in the data: x"
    assert isinstance(copy, ValueError)
