"""Parquet: read only the columns asked for, and only row groups whose time statistics meet the window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow.dataset as ds

from retrodiction.data.location import Location, open_random_access, reading
from retrodiction.data.model import DatasetInfo, Frame, check_variables
from retrodiction.data.table import OrderedTable, numeric_columns, require_time_column
from retrodiction.data.timeaxis import pushdown_filter


def describe_parquet(location: Location) -> DatasetInfo:
    time_column = location.source.time_column
    with open_random_access(location) as file, reading(location.source, location.format):
        fragment = ds.ParquetFileFormat().make_fragment(file)
        schema = fragment.physical_schema
        require_time_column(schema, time_column, location.source.uri)
        table = fragment.to_table(columns=[time_column])
    ordered = OrderedTable.from_arrow(table, time_column)
    return DatasetInfo(times=ordered.times, columns=numeric_columns(schema, time_column))


def read_parquet(location: Location, variables: Sequence[str], start: datetime | None, end: datetime | None) -> Frame:
    time_column = location.source.time_column
    with open_random_access(location) as file, reading(location.source, location.format):
        fragment = ds.ParquetFileFormat().make_fragment(file)
        schema = fragment.physical_schema
        require_time_column(schema, time_column, location.source.uri)
        check_variables(numeric_columns(schema, time_column), variables)
        row_filter = pushdown_filter(schema.field(time_column).type, time_column, start, end)
        table = fragment.to_table(columns=[time_column, *variables], filter=row_filter)
    # Only the rows read are checked for duplicate times; describe() checks the whole column.
    return OrderedTable.from_arrow(table, time_column).frame(variables, start, end)
