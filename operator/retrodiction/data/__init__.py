"""Data sources: bundled datasets, files and object storage through fsspec, and synthetic data.

Everything here raises `DataError` (a ValueError naming the spec field at fault) for problems with the data a
user asked for; nothing here knows about Dask or Kubernetes. Imports are lazy: `DataError` alone must not pull in
pandas and pyarrow (the command line imports it before it knows whether it will read any data).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from retrodiction.data.errors import DataError

if TYPE_CHECKING:
    from retrodiction.data.builtin import builtin_datasets
    from retrodiction.data.model import DatasetInfo, DataSource, Frame
    from retrodiction.data.reader import describe, read_frame
    from retrodiction.data.synthetic import make_random_walks, with_gaps, write_dataset

__all__ = [
    "DataError",
    "DataSource",
    "DatasetInfo",
    "Frame",
    "builtin_datasets",
    "describe",
    "make_random_walks",
    "read_frame",
    "with_gaps",
    "write_dataset",
]

_LAZY = {
    "builtin_datasets": "retrodiction.data.builtin",
    "DatasetInfo": "retrodiction.data.model",
    "DataSource": "retrodiction.data.model",
    "Frame": "retrodiction.data.model",
    "describe": "retrodiction.data.reader",
    "read_frame": "retrodiction.data.reader",
    "make_random_walks": "retrodiction.data.synthetic",
    "with_gaps": "retrodiction.data.synthetic",
    "write_dataset": "retrodiction.data.synthetic",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'retrodiction.data' has no attribute {name!r}")
