"""Datasets read from a real S3 API (moto's server as a separate process) through fsspec/s3fs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
import s3fs

from retrodiction.data import DataError, DataSource, describe, make_random_walks, read_frame, with_gaps, write_dataset
from retrodiction.data.csv_format import parsed_files
from tests.s3 import S3Server

pytestmark = pytest.mark.integration

VARIABLES = ["s0000", "s0002"]


@pytest.fixture(scope="module")
def walks() -> pd.DataFrame:
    return with_gaps(make_random_walks(3, 500, freq="D", seed=11), 0.05, seed=11)


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket("data")


@pytest.fixture
def fetched_bytes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of every object body S3 sends back (s3fs routes all of its requests through _call_s3)."""
    sizes: list[int] = []
    original = s3fs.S3FileSystem._call_s3

    async def counting_call(self: s3fs.S3FileSystem, method: str, *args: Any, **kwargs: Any) -> Any:
        response = await original(self, method, *args, **kwargs)
        if method == "get_object":
            sizes.append(int(response["ContentLength"]))
        return response

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counting_call)
    return sizes


@pytest.mark.parametrize("name", ["w.parquet", "w.csv", "w.csv.gz"])
def test_datasets_on_s3_read_back_as_written(s3_server: S3Server, bucket: str, walks: pd.DataFrame, name: str) -> None:
    uri = f"s3://{bucket}/{name}"
    fmt: Literal["parquet", "csv"] = "parquet" if name.endswith(".parquet") else "csv"
    write_dataset(walks, uri, format=fmt, storage_options=s3_server.storage_options)
    source = DataSource(uri, storage_options=s3_server.storage_options)

    frame = read_frame(source, VARIABLES, datetime(2000, 3, 1))

    expected = walks[walks["date"] >= datetime(2000, 3, 1)]
    np.testing.assert_array_equal(frame.times, expected["date"].to_numpy())
    np.testing.assert_array_equal(frame.values, expected[VARIABLES].to_numpy())
    np.testing.assert_array_equal(describe(source).times, walks["date"].to_numpy())


def test_an_endpoint_given_as_a_top_level_option_works_too(s3_server: S3Server, bucket: str) -> None:
    options = {
        "key": s3_server.access_key,
        "secret": s3_server.secret_key,
        "endpoint_url": s3_server.endpoint_url,
    }
    write_dataset(make_random_walks(1, 10), f"s3://{bucket}/top.parquet", storage_options=options)
    frame = read_frame(DataSource(f"s3://{bucket}/top.parquet", storage_options=options), ["s0000"])
    assert frame.values.shape == (10, 1)


@pytest.mark.parametrize("wrong", ["key", "secret"])
def test_bad_credentials_are_a_uri_error(s3_server: S3Server, bucket: str, walks: pd.DataFrame, wrong: str) -> None:
    uri = f"s3://{bucket}/creds.parquet"
    write_dataset(walks, uri, storage_options=s3_server.storage_options)
    options = {**s3_server.storage_options, wrong: "not-the-right-one"}
    with pytest.raises(DataError) as caught:
        read_frame(DataSource(uri, storage_options=options), VARIABLES)
    assert caught.value.field == "spec.data.uri"
    assert "credentials" in caught.value.message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("path", "expected_words"),
    [
        ("no-such-bucket-4f1c/w.parquet", "bucket does not exist"),
        ("{bucket}/missing.csv", "FileNotFoundError"),
    ],
    ids=["missing-bucket", "missing-key"],
)
def test_a_missing_bucket_or_object_is_a_uri_error(
    s3_server: S3Server, bucket: str, path: str, expected_words: str
) -> None:
    source = DataSource(f"s3://{path.format(bucket=bucket)}", storage_options=s3_server.storage_options)
    with pytest.raises(DataError) as caught:
        read_frame(source, VARIABLES)
    assert caught.value.field == "spec.data.uri"
    assert expected_words in str(caught.value)


def test_a_narrow_parquet_read_fetches_a_small_part_of_the_object(
    s3_server: S3Server, bucket: str, fetched_bytes: list[int]
) -> None:
    df = make_random_walks(4, 200_000, freq="h", seed=5)
    uri = f"s3://{bucket}/big.parquet"
    write_dataset(df, uri, row_group_size=10_000, storage_options=s3_server.storage_options)
    size = s3fs.S3FileSystem(**s3_server.storage_options).size(uri)
    start = datetime(2000, 1, 1) + timedelta(hours=25_000)  # inside the third row group
    end = start + timedelta(days=7)

    frame = read_frame(DataSource(uri, storage_options=s3_server.storage_options), ["s0001"], start, end)

    in_window = df[(df["date"] >= start) & (df["date"] < end)]
    np.testing.assert_array_equal(frame.values[:, 0], in_window["s0001"].to_numpy())
    # Footer + two column chunks of one row group is about 250 kB of a 9.6 MB object; the whole file, or
    # every column of that row group, would be several times more.
    assert 0 < sum(fetched_bytes) < size / 30
    fetched_bytes.clear()
    read_frame(DataSource(uri, storage_options=s3_server.storage_options), ["s0001"])
    assert sum(fetched_bytes) > size / 10  # the same counter sees a full column being read


def test_a_csv_object_rewritten_on_s3_is_parsed_again(s3_server: S3Server, bucket: str) -> None:
    parsed_files.clear()
    uri = f"s3://{bucket}/changing.csv"
    source = DataSource(uri, storage_options=s3_server.storage_options)
    first = make_random_walks(1, 20, seed=1)
    write_dataset(first, uri, format="csv", storage_options=s3_server.storage_options)
    np.testing.assert_array_equal(read_frame(source, ["s0000"]).values[:, 0], first["s0000"].to_numpy())
    second = make_random_walks(1, 20, seed=2)
    write_dataset(second, uri, format="csv", storage_options=s3_server.storage_options)
    np.testing.assert_array_equal(read_frame(source, ["s0000"]).values[:, 0], second["s0000"].to_numpy())
