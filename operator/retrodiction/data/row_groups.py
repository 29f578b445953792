"""Which row groups of a Parquet file can hold rows of a time window, from the time column's statistics.

pyarrow.dataset makes the same choice (a file fragment's subset by a filter), but importing it imports pandas, a
third of a second in the command and again in the start of every worker process, for what a few integer
comparisons on the footer decide.

The statistics are compared in the column's Parquet storage, not its Arrow type: Arrow writes timestamp[s] as
Parquet milliseconds and date64 as Parquet days. A column without comparable statistics (text times, legacy INT96
timestamps, a writer that left statistics out) keeps every row group; the exact window is cut once the times of
the rows read are parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from retrodiction.data.timeaxis import to_utc_naive

# Parquet's time units as numpy's, and the physical type that stores each logical type.
_TIMESTAMP_UNITS = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}
_STORAGE = {"Timestamp": "INT64", "Date": "INT32"}


@dataclass(frozen=True)
class TimeStatistics:
    """Per row group, the (min, max) of the time column in its stored unit (None where a group has none), and
    that unit as numpy names it ('D', 'ms', 'us', 'ns'); no unit when the stored values cannot be compared."""

    unit: str | None
    bounds: tuple[tuple[int, int] | None, ...]

    @classmethod
    def from_metadata(cls, metadata: Any, column: str) -> TimeStatistics:
        """From a pyarrow FileMetaData (the footer) and the time column's name."""
        index = _column_index(metadata, column)
        unit = None if index is None else _stored_unit(metadata.schema.column(index))
        if index is None or unit is None:
            return cls(None, (None,) * metadata.num_row_groups)
        return cls(unit, tuple(_bounds(metadata.row_group(i).column(index)) for i in range(metadata.num_row_groups)))

    def row_groups(self, start: datetime | None, end: datetime | None) -> list[int]:
        """The row groups that may hold times in [start, end) (None: unbounded on that side), in file order."""
        everything = list(range(len(self.bounds)))
        if self.unit is None or (start is None and end is None):
            return everything
        low = None if start is None else self._floor(start)
        # One unit past the end's floor: a bound that falls inside a unit never drops that unit's rows.
        high = None if end is None else self._floor(end) + 1
        return [i for i in everything if _overlaps(self.bounds[i], low, high)]

    def _floor(self, moment: datetime) -> int:
        return int(to_utc_naive(moment).astype(f"datetime64[{self.unit}]").astype(np.int64))


def _overlaps(bounds: tuple[int, int] | None, low: int | None, high: int | None) -> bool:
    if bounds is None:
        return True
    smallest, largest = bounds
    return (low is None or largest >= low) and (high is None or smallest <= high)


def _column_index(metadata: Any, column: str) -> int | None:
    schema = metadata.schema
    return next((i for i in range(len(schema)) if schema.column(i).path == column), None)


def _stored_unit(column: Any) -> str | None:
    logical = column.logical_type
    described: dict[str, Any] = json.loads(logical.to_json()) if logical is not None else {}
    kind = described.get("Type")
    if kind not in _STORAGE or column.physical_type != _STORAGE[kind]:
        return None
    return "D" if kind == "Date" else _TIMESTAMP_UNITS.get(described.get("timeUnit", ""))


def _bounds(chunk: Any) -> tuple[int, int] | None:
    statistics = chunk.statistics
    if statistics is None or not statistics.has_min_max:
        return None
    smallest, largest = statistics.min_raw, statistics.max_raw
    if not isinstance(smallest, int) or not isinstance(largest, int):
        return None
    return smallest, largest
