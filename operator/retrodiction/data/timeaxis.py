"""The time column: parsing it to UTC-naive datetime64[ns], ordering rows by it, and bounds on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from retrodiction.data.arrow_arrays import nanoseconds
from retrodiction.data.errors import DataError
from retrodiction.times import utc_naive

FIELD = "spec.data.timeColumn"
NS = "datetime64[ns]"


def to_utc_naive(moment: datetime) -> np.datetime64:
    """A moment in the terms of the data's time axis: UTC, without a zone, in nanoseconds."""
    return np.datetime64(utc_naive(moment), "ns")


def parse_times(column: Any, name: str) -> NDArray[np.datetime64]:
    """Times of an Arrow column as UTC-naive datetime64[ns]: timestamps (tz-aware ones converted to UTC),
    dates, or ISO 8601 text."""
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        times = _cast_times(column, name)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        times = _parse_text(column, name)
    else:
        expected = "expected timestamps, dates or ISO 8601 text"
        raise DataError(FIELD, f"column {name!r} has type {kind}; {expected}")
    missing = int(np.isnat(times).sum())
    if missing:
        raise DataError(FIELD, f"column {name!r} has {missing} empty value(s)")
    return times


def _cast_times(column: Any, name: str) -> NDArray[np.datetime64]:
    try:
        # Arrow stores tz-aware timestamps as UTC, so dropping the zone leaves UTC wall time.
        cast = pc.cast(column, pa.timestamp("ns", tz=None))
    except pa.ArrowInvalid as exc:
        raise DataError(
            FIELD, f"column {name!r} has times outside 1677-2262, the range of nanosecond timestamps"
        ) from exc
    return nanoseconds(cast)


def _parse_text(column: Any, name: str) -> NDArray[np.datetime64]:
    # pandas parses ISO 8601 text; it is imported only for text times (CSV, say), since it takes a third of a
    # second to import and Parquet's timestamps and dates never need it.
    import pandas as pd

    text = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    blank = text.isna() | (text.astype(str).str.strip() == "")
    bad = parsed.isna() & ~blank
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            FIELD,
            f"column {name!r} has values that are not ISO 8601 times (in 1677-2262), the first at row {row + 1}",
            f"first {text.iloc[row]!r}",
        )
    return np.asarray(parsed.dt.tz_localize(None).to_numpy(dtype=NS), dtype=NS)


def sort_order(times: NDArray[np.datetime64], name: str) -> NDArray[np.intp] | None:
    """Permutation that puts rows in time order (None when they already are); duplicate times are an error
    because every later step indexes observations by time."""
    steps = np.diff(times)
    if np.all(steps > np.timedelta64(0)):
        return None
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size:
        import pandas as pd  # for the message only (see _parse_text)

        first = pd.Timestamp(repeated[0]).isoformat()
        count = repeated.size
        raise DataError(FIELD, f"column {name!r} has duplicate times ({count} repeated)", f"first {first}")
    return order


def window_slice(times: NDArray[np.datetime64], start: datetime | None, end: datetime | None) -> slice:
    """Rows of sorted `times` with start <= time < end."""
    lo = 0 if start is None else int(np.searchsorted(times, to_utc_naive(start), side="left"))
    hi = len(times) if end is None else int(np.searchsorted(times, to_utc_naive(end), side="left"))
    return slice(lo, max(lo, hi))
