"""The process that local Dask worker processes of `retrodiction train` fork from (multiprocessing's forkserver).

Dask starts each worker process by spawning a fresh interpreter, which imports Dask, numpy, pandas and pyarrow
before its first batch: most of a second of CPU per worker, paid while the command itself is importing the same
libraries, and on a 2-core machine all three compete for the cores. A forkserver imports them once, and the
command starts it first thing, so its imports overlap with the command's own; each worker is then a fork of an
interpreter that is ready (docs/benchmarks.md, throughput at scale).

A forked worker starts with the forkserver's environment, not the one its cluster is created in. What must be in
place before a library loads (Dask's pre-spawn environment: one BLAS thread per worker) is set in the forkserver
by its first import, worker_start.py, before numpy loads; the environment at the cluster's creation is handed to
each worker by its Nanny (execution/clusters.py), so credentials set later still reach it. Forks share the
forkserver's hash seed, as Dask's spawned workers share the seed their Nanny gives them.

This module stays light (no Dask, no numpy): the command imports it before anything heavy.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Mapping
from multiprocessing import forkserver

METHOD = "forkserver"
# Imported by the forkserver in this order: the start environment first (before numpy), then Dask's worker and
# nanny and the batch code with the engine, numpy, pandas, pyarrow and both data formats. A module missing here
# is imported by each worker on first use.
WORKER_MODULES = (
    "retrodiction.worker_start",
    "distributed",
    "distributed.nanny",
    "retrodiction.execution.task",
    "retrodiction.data.parquet_format",
    "retrodiction.data.csv_format",
)
PRE_SPAWN_KEY = "distributed.nanny.pre-spawn-environ"
# distributed.yaml's pre-spawn environment, which Dask's config holds only once distributed is imported (the
# forkserver reads the config before that), less MALLOC_TRIM_THRESHOLD_: local workers run without it
# (execution/clusters.py).
PRE_SPAWN_DEFAULTS: dict[str, object] = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
NOT_SET_FOR_LOCAL_WORKERS = ("MALLOC_TRIM_THRESHOLD_",)

_lock = threading.Lock()


def worker_start_environment(configured: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, str]:
    """The variables a worker needs from its start, as Dask's Nanny sets them before spawning one:
    PRE_SPAWN_DEFAULTS and the `pre-spawn-environ` of Dask's config (`configured`; an entry set to None is left
    out), a value already in `environ` standing."""
    pre_spawn = {**PRE_SPAWN_DEFAULTS, **configured}
    for name in NOT_SET_FOR_LOCAL_WORKERS:
        pre_spawn.pop(name, None)
    return {name: environ.get(name, str(value)) for name, value in pre_spawn.items() if value is not None}


def start_worker_server() -> None:
    """Start the forkserver with WORKER_MODULES imported (once per process; again if it died). Returns at once:
    the forkserver imports in its own process while this one goes on."""
    with _lock:
        multiprocessing.get_context(METHOD).set_forkserver_preload(list(WORKER_MODULES))
        forkserver.ensure_running()
