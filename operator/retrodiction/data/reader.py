"""Entry points for reading a dataset, whatever its format and wherever it is stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from retrodiction.data.csv_format import describe_csv, read_csv
from retrodiction.data.location import locate
from retrodiction.data.model import DatasetInfo, DataSource, Frame
from retrodiction.data.parquet_format import describe_parquet, read_parquet


def describe(source: DataSource) -> DatasetInfo:
    """Time axis and column types of a dataset, reading as little as the format allows (for Parquet only the
    time column and the footer; for CSV the time column and the first block)."""
    location = locate(source)
    return describe_parquet(location) if location.format == "parquet" else describe_csv(location)


def read_frame(
    source: DataSource,
    variables: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> Frame:
    """Values of `variables` at times start <= t < end (None: unbounded), rows in time order.

    Naive datetimes are UTC; aware ones are converted to UTC. Raises DataError naming the spec field to fix.
    """
    location = locate(source)
    if location.format == "parquet":
        return read_parquet(location, variables, start, end)
    return read_csv(location, variables, start, end)
