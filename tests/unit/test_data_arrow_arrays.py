"""Arrow columns become numpy arrays with nulls as NaN (or NaT), whatever their chunks and offsets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from retrodiction.data.arrow_arrays import float64_values, nanoseconds


def test_numbers_of_any_numeric_type_become_float64_with_nulls_as_nan() -> None:
    integers = pa.chunked_array([pa.array([1, None, 3], pa.int32()), pa.array([4, None], pa.int32())])
    np.testing.assert_array_equal(float64_values(integers), [1.0, np.nan, 3.0, 4.0, np.nan])
    assert float64_values(integers).dtype == np.float64
    np.testing.assert_array_equal(float64_values(pa.array([4.5, None], pa.float32())), [4.5, np.nan])


def test_a_sliced_chunk_gives_its_own_values_and_its_own_nulls() -> None:
    # Offsets of 5 and 9 start inside the validity bitmap's first and second bytes.
    whole = pa.array([float(i) if i % 3 else None for i in range(20)])
    for offset in (5, 9):
        expected = [float(i) if i % 3 else np.nan for i in range(offset, offset + 7)]
        np.testing.assert_array_equal(float64_values(whole.slice(offset, 7)), expected)


def test_an_empty_or_all_null_column_is_handled() -> None:
    assert float64_values(pa.chunked_array([], pa.float64())).shape == (0,)
    np.testing.assert_array_equal(float64_values(pa.array([None, None], pa.null())), [np.nan, np.nan])


def test_the_result_is_writable_and_owns_its_memory() -> None:
    values = float64_values(pa.chunked_array([pa.array([1.0, 2.0])]))
    values[0] = 7.0
    assert values.flags.writeable and values.flags.owndata


def test_timestamps_become_nanoseconds_with_nulls_as_nat() -> None:
    column = pa.chunked_array(
        [pa.array([0, None], pa.timestamp("ns")), pa.array([86_400_000_000_000], pa.timestamp("ns"))]
    )
    times = nanoseconds(column)
    assert times.dtype == np.dtype("datetime64[ns]")
    assert times[0] == np.datetime64("1970-01-01", "ns") and np.isnat(times[1])
    assert times[2] == np.datetime64("1970-01-02", "ns")


def test_a_worker_reading_parquet_and_scoring_leaves_pandas_scipy_and_pydantic_unimported(tmp_path: Path) -> None:
    # What every local worker imports before its first batch (worker_server.py), on the command's critical path:
    # pandas, scipy and the CRD's pydantic models take most of a second to import, and a run of builtin models
    # on Parquet needs none of them to plan or to score.
    table = pa.table({"date": pa.array(np.arange(10).astype("datetime64[D]")), "x": np.arange(10.0)})
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=4)
    code = f"""
import sys
from datetime import datetime
from retrodiction.worker_server import WORKER_MODULES
for module in WORKER_MODULES:
    __import__(module)
from retrodiction.data import DataSource, describe, read_frame
from retrodiction.execution.scoring import score_batch
from retrodiction.engine import EngineConfig
source = DataSource("{tmp_path}/d.parquet")
describe(source)
frame = read_frame(source, ["x"], datetime(1970, 1, 3), datetime(1970, 1, 9))
score_batch(frame.values, 2, EngineConfig(horizons=(1,), season_length=2, window_length=2))
print(sorted(name for name in ("pandas", "scipy", "pydantic") if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
