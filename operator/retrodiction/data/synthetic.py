"""Synthetic datasets of any size for benchmarks and tests, and writing a dataset anywhere fsspec reaches."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any, Literal

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_ROW_GROUP_SIZE = 1024


def make_random_walks(
    n_series: int, n_points: int, *, freq: str = "D", start: str = "2000-01-01", seed: int = 0
) -> pd.DataFrame:
    """A `date` column and `n_series` Gaussian random walks named s0000, s0001, ...; the same seed gives the same
    frame (with_gaps blanks some of its values)."""
    if n_series < 0 or n_points < 0:
        raise ValueError("n_series and n_points must be >= 0")
    rng = np.random.default_rng(seed)
    values = 100.0 + rng.standard_normal((n_points, n_series)).cumsum(axis=0)
    width = max(4, len(str(max(n_series - 1, 0))))
    frame = pd.DataFrame(values, columns=[f"s{i:0{width}d}" for i in range(n_series)])
    frame.insert(0, "date", pd.date_range(start=start, periods=n_points, freq=freq))
    return frame


def with_gaps(frame: pd.DataFrame, nan_fraction: float, *, seed: int = 0) -> pd.DataFrame:
    """A copy of `frame` (a `date` column, then series) with a random `nan_fraction` of the series' values set to
    NaN and the rest untouched, as data with missing observations; the same seed blanks the same cells."""
    if not 0.0 <= nan_fraction < 1.0:
        raise ValueError("nan_fraction must be in [0, 1)")
    values = frame.iloc[:, 1:].to_numpy(dtype=np.float64, copy=True)
    values[np.random.default_rng(seed).random(values.shape) < nan_fraction] = np.nan
    gappy = frame.copy()
    gappy.iloc[:, 1:] = values
    return gappy


def write_dataset(
    df: pd.DataFrame,
    uri: str,
    format: Literal["parquet", "csv"] = "parquet",
    storage_options: Mapping[str, Any] | None = None,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
) -> None:
    """Write `df` (without its index) as Parquet or CSV to any fsspec URI; a `.gz` CSV name is gzipped.

    Row groups are small by default so that readers asking for a time range can skip most of a file.
    """
    fs, path = fsspec.core.url_to_fs(uri, **dict(storage_options or {}))
    if "file" in fs.protocol:
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
    if format == "parquet":
        table = pa.Table.from_pandas(df, preserve_index=False)
        with fs.open(path, "wb") as file:
            pq.write_table(table, file, row_group_size=row_group_size)
    elif format == "csv":
        with fs.open(path, "wb", compression="infer") as file:
            df.to_csv(file, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    else:
        raise ValueError(f"unknown format {format!r}; use parquet or csv")
