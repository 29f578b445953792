"""Data sources: bundled datasets, files and object storage through fsspec, and synthetic data.

Everything here raises `DataError` (a ValueError naming the spec field at fault) for problems with the data a
user asked for; nothing here knows about Dask or Kubernetes.
"""

from retrodiction.data.builtin import builtin_datasets
from retrodiction.data.errors import DataError
from retrodiction.data.model import DatasetInfo, DataSource, Frame
from retrodiction.data.reader import describe, read_frame
from retrodiction.data.synthetic import make_random_walks, write_dataset

__all__ = [
    "DataError",
    "DataSource",
    "DatasetInfo",
    "Frame",
    "builtin_datasets",
    "describe",
    "make_random_walks",
    "read_frame",
    "write_dataset",
]
