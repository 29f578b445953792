"""Datasets shipped inside the package, addressed as `builtin://NAME`.

Origins and licences: builtin/DATASETS.md.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
from importlib import resources
from pathlib import Path

from retrodiction.data.errors import DataError, name_list

SCHEME = "builtin://"

_DESCRIPTIONS = {
    "macrodata": "US quarterly macroeconomic series, 1959Q1-2009Q3: realgdp, realcons, realinv, realgovt, "
    "realdpi, cpi, m1, tbilrate, unemp, pop, infl, realint (FRED / BLS, public domain)",
    "co2": "Weekly atmospheric CO2 at Mauna Loa, 1958-2001, with missing weeks: co2 (SIO / CDIAC, public domain)",
    "sunspots": "Yearly sunspot activity, 1700-2008: sunactivity (NOAA NGDC, public domain)",
    "nile": "Annual flow of the Nile at Aswan, 1871-1970: volume (Cobb 1978, public domain)",
}

# Keeps files extracted from a zipped install alive for the life of the process (for a normal install
# `as_file` hands back the real path and there is nothing to clean up).
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def builtin_datasets() -> dict[str, str]:
    """Name -> one-line description of every bundled dataset."""
    return dict(_DESCRIPTIONS)


def is_builtin(uri: str) -> bool:
    return uri.startswith(SCHEME)


@functools.cache
def builtin_path(uri: str) -> Path:
    """Local file holding the dataset a `builtin://NAME` URI names."""
    name = uri.removeprefix(SCHEME).strip("/")
    if name not in _DESCRIPTIONS:
        available = name_list(sorted(_DESCRIPTIONS))
        raise DataError("spec.data.uri", f"unknown builtin dataset {name!r}; available: {available}")
    resource = resources.files("retrodiction.data").joinpath("builtin", f"{name}.csv")
    return _extracted.enter_context(resources.as_file(resource))
