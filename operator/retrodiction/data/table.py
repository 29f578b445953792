"""An Arrow table whose rows are in time order, and the Frame cut out of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from retrodiction.data.arrow_arrays import float64_values
from retrodiction.data.errors import DataError, name_list
from retrodiction.data.model import Frame
from retrodiction.data.timeaxis import FIELD as TIME_FIELD
from retrodiction.data.timeaxis import parse_times, sort_order, window_slice


def is_numeric(kind: Any) -> bool:
    # An all-empty CSV column has Arrow's null type: a series with no observations, not text.
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind)
    )


def numeric_columns(schema: Any, time_column: str) -> dict[str, bool]:
    """Column name -> is numeric, for every column but the time column."""
    return {f.name: is_numeric(f.type) for f in schema if f.name != time_column}


def require_time_column(schema: Any, time_column: str, uri: str) -> None:
    if time_column not in schema.names:
        columns = list(schema.names)
        raise DataError(TIME_FIELD, f"no column {time_column!r} in {uri}", f"columns: {name_list(columns)}")


@dataclass(frozen=True, eq=False)
class OrderedTable:
    times: NDArray[np.datetime64]  # sorted, unique
    table: Any  # pa.Table without the time column, rows in the order of `times`
    columns: dict[str, bool]

    @classmethod
    def from_arrow(cls, table: Any, time_column: str) -> OrderedTable:
        times = parse_times(table.column(time_column), time_column)
        data = table.drop_columns([time_column])
        order = sort_order(times, time_column)
        if order is not None:
            times, data = times[order], data.take(pa.array(order))
        return cls(times, data, numeric_columns(data.schema, time_column))

    def frame(self, variables: Sequence[str], start: datetime | None, end: datetime | None) -> Frame:
        rows = window_slice(self.times, start, end)
        selected = self.table.slice(rows.start, rows.stop - rows.start)
        values = np.empty((rows.stop - rows.start, len(variables)), dtype=np.float64)
        for j, name in enumerate(variables):
            values[:, j] = float64_values(selected.column(name))
        return Frame(times=self.times[rows].copy(), values=values, variables=tuple(variables))
