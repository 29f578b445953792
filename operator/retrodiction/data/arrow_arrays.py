"""Arrow columns as numpy arrays, without pyarrow's `to_numpy`.

pyarrow's conversion to numpy imports pandas on its first use, even for a float64 column (so does making an Arrow
scalar from a Python value): a third of a second in the command and again in every worker process, which otherwise
never need pandas. A chunk of a fixed-width type is a validity bitmap and one buffer of values, which numpy reads in
place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

# What numpy's datetime64 holds for NaT: the smallest int64.
_NAT = np.iinfo(np.int64).min


def float64_values(column: Any) -> NDArray[np.float64]:
    """A numeric Arrow (chunked) array as float64, nulls as NaN."""
    return _values(pc.cast(column, pa.float64()), np.dtype(np.float64), np.nan)


def nanoseconds(column: Any) -> NDArray[np.datetime64]:
    """A timestamp[ns] Arrow (chunked) array as datetime64[ns], nulls as NaT."""
    return _values(pc.cast(column, pa.int64()), np.dtype(np.int64), _NAT).view("datetime64[ns]")


def _values(column: Any, dtype: np.dtype[Any], missing: Any) -> NDArray[Any]:
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [_chunk_values(chunk, dtype, missing) for chunk in chunks if len(chunk)]
    if not parts:
        return np.empty(0, dtype=dtype)
    # A copy in every case: frombuffer's views are read-only and hold Arrow's memory.
    return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()


def _chunk_values(chunk: Any, dtype: np.dtype[Any], missing: Any) -> NDArray[Any]:
    validity, data = chunk.buffers()[:2]
    values = np.frombuffer(data, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize)
    if not chunk.null_count:
        return values
    # Arrow's bitmap: bit i (least significant first) of the buffer says whether value i of the array is set.
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    valid = bits[chunk.offset : chunk.offset + len(chunk)].astype(bool)
    return np.where(valid, values, np.array(missing, dtype=dtype))
