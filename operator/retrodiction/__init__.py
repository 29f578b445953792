"""Parallel retrodiction training: score forecasting rules on history, locally or on Kubernetes.

The library face is the seed module's API: `ParallelTrainingCoordinator`, `TrainingBatch` and
`run_parallel_retrodiction_training`. Imports are lazy so that `retrodiction.engine` stays importable without
Dask (workers and the operator import only what they use).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrodiction.batches import TrainingBatch
    from retrodiction.coordinator import ParallelTrainingCoordinator, run_parallel_retrodiction_training

__all__ = [
    "ParallelTrainingCoordinator",
    "TrainingBatch",
    "__version__",
    "run_parallel_retrodiction_training",
]

_LAZY = {
    "ParallelTrainingCoordinator": "retrodiction.coordinator",
    "run_parallel_retrodiction_training": "retrodiction.coordinator",
    "TrainingBatch": "retrodiction.batches",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # Read on first use: importlib.metadata takes 50 ms to import, paid otherwise by every process that imports
        # anything of the package, the local workers' forkserver first among them.
        globals()["__version__"] = _installed_version()
        return globals()["__version__"]
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'retrodiction' has no attribute {name!r}")


def _installed_version() -> str:
    """The installed distribution's version, which is pyproject.toml's (the one version source:
    hack/release/version.py). A source tree on PYTHONPATH without an install (tests/integration/test_image_venvs.py)
    has no metadata to read."""
    from importlib import metadata

    try:
        return metadata.version("retrodiction-operator")
    except metadata.PackageNotFoundError:
        return "0+unknown"
