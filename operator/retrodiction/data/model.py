"""Plain values passed between the data layer and its callers (and pickled to Dask workers)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from retrodiction.data.credentials import resolve_storage_options
from retrodiction.data.errors import DataError, name_list

Format = Literal["auto", "parquet", "csv"]


@dataclass(frozen=True)
class DataSource:
    """Where a dataset lives and how to read it.

    `uri` is `builtin://NAME`, a local path, `file:///...`, or any URL an installed fsspec backend
    understands (`s3://`, `memory://`, ...). `storage_options` go to that backend unchanged (`endpoint_url`,
    ...); they must pickle, as they travel to Dask workers. Secrets do not belong there in a cluster: with
    `credentials_prefix` each process adds the credentials it finds in its own environment under that prefix
    (see data/credentials.py), and with `anonymous` (no Secret, ambient credentials not allowed) object stores
    are read without credentials.
    """

    uri: str
    format: Format = "auto"
    time_column: str = "date"
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    credentials_prefix: str | None = None
    anonymous: bool = False

    def resolved_storage_options(self) -> dict[str, Any]:
        """The options to open the data with in this process (credentials read from its environment)."""
        return resolve_storage_options(
            self.uri, self.storage_options, credentials_prefix=self.credentials_prefix, anonymous=self.anonymous
        )


@dataclass(frozen=True, eq=False)
class Frame:
    """Rows of a dataset in time order: `values[i, j]` is `variables[j]` at `times[i]`, NaN where missing."""

    times: NDArray[np.datetime64]
    values: NDArray[np.float64]
    variables: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """What a dataset holds, without its values: its time axis and, per column, whether it is numeric."""

    times: NDArray[np.datetime64]
    columns: dict[str, bool]

    def check_variables(self, variables: Sequence[str]) -> None:
        """Raise the same `DataError` that `read_frame` would for these variables, without reading values."""
        check_variables(self.columns, variables)


def check_variables(columns: Mapping[str, bool], variables: Sequence[str]) -> None:
    repeated = sorted(name for name, count in Counter(variables).items() if count > 1)
    if repeated:
        raise DataError("spec.variables", f"listed more than once: {name_list(repeated)}")
    missing = [name for name in variables if name not in columns]
    if missing:
        raise DataError(
            "spec.variables", f"not in the data: {name_list(missing)}", f"available: {name_list(list(columns))}"
        )
    non_numeric = [name for name in variables if not columns[name]]
    if non_numeric:
        raise DataError("spec.variables", f"not numeric: {name_list(non_numeric)}")
