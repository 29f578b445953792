"""CSV: parsed whole once per process and kept, as a worker reads many small batches from one file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow.csv as pacsv

from retrodiction.data.cache import LruCache
from retrodiction.data.location import Location, file_token, open_stream, reading
from retrodiction.data.model import DatasetInfo, Frame, check_variables
from retrodiction.data.table import OrderedTable, numeric_columns, require_time_column

CACHE_SIZE = 4


parsed_files: LruCache[OrderedTable] = LruCache(CACHE_SIZE)


def _cache_key(location: Location) -> str:
    return f"{file_token(location)}:{location.source.time_column}"


def _parse(location: Location) -> OrderedTable:
    with open_stream(location) as file, reading(location.source, location.format):
        table = pacsv.read_csv(file)
    require_time_column(table.schema, location.source.time_column, location.source.uri)
    return OrderedTable.from_arrow(table, location.source.time_column)


def _parsed(location: Location) -> OrderedTable:
    key = _cache_key(location)
    entry = parsed_files.get(key)
    if entry is None:
        # Two threads may both miss and parse; the second result simply replaces the first.
        entry = _parse(location)
        parsed_files.put(key, entry)
    return entry


def describe_csv(location: Location) -> DatasetInfo:
    time_column = location.source.time_column
    cached = parsed_files.get(_cache_key(location))
    if cached is not None:
        return DatasetInfo(times=cached.times.copy(), columns=dict(cached.columns))
    with open_stream(location) as file, reading(location.source, location.format):
        # Column types come from the first block only; read_csv checks the whole column again.
        schema = pacsv.open_csv(file).schema
    require_time_column(schema, time_column, location.source.uri)
    with open_stream(location) as file, reading(location.source, location.format):
        times = pacsv.read_csv(file, convert_options=pacsv.ConvertOptions(include_columns=[time_column]))
    ordered = OrderedTable.from_arrow(times, time_column)
    return DatasetInfo(times=ordered.times, columns=numeric_columns(schema, time_column))


def read_csv(location: Location, variables: Sequence[str], start: datetime | None, end: datetime | None) -> Frame:
    parsed = _parsed(location)
    check_variables(parsed.columns, variables)
    return parsed.frame(variables, start, end)
