"""Datasets with a damaged region, for proving what a run does when some of its batches cannot be read."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def damage_column_chunk(path: Path, row_group: int, column: str) -> None:
    """Overwrite one column's data in one row group with garbage, as a bad disk block or a torn upload would.

    The footer and every other chunk stay intact, so the dataset still describes and plans; only reads that
    touch this chunk fail."""
    metadata = pq.ParquetFile(path).metadata
    group = metadata.row_group(row_group)
    chunk = next(group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == column)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    with path.open("r+b") as file:
        file.seek(start)
        file.write(b"\xff" * chunk.total_compressed_size)
