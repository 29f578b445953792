"""Dask clusters to run on: a LocalCluster of worker processes, or an existing scheduler by address."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask
from distributed import Client, LocalCluster
from distributed import utils as distributed_utils

from retrodiction.execution.logs import library_logs, worker_log_level
from retrodiction.worker_server import METHOD as FORKSERVER
from retrodiction.worker_server import start_worker_server


@contextmanager
def local_cluster_client(  # noqa: PLR0913 - keyword-only options of one LocalCluster
    n_workers: int,
    *,
    threads_per_worker: int = 1,
    dashboard_address: str | None = None,
    processes: bool = True,
    verbose: bool = False,
    fork_server: bool = False,
) -> Iterator[Client]:
    """A LocalCluster of `n_workers` processes, or without `processes` one in-process worker of `n_workers`
    threads; closed on exit.

    One thread per worker process: the engine is numpy-bound and holds the GIL in places, so processes scale and
    threads would not; threads are for runs too small to repay starting processes (execution/sizing.py). The
    scheduler always serves HTTP (health, metrics, dashboard); without an address it takes a free port rather
    than 8787, which another cluster on the machine may hold. Without `verbose`, Dask's INFO lines stay out of the
    terminal, the worker processes' too (execution/logs.py).

    With `fork_server` the worker processes fork from a forkserver that has imported their libraries
    (worker_server.py), started here unless the caller started it earlier; each gets this process's environment as
    it is now. The command line uses it; other callers keep Dask's default of a fresh interpreter per worker.
    """
    layout: dict[str, Any] = {"n_workers": n_workers, "threads_per_worker": threads_per_worker}
    settings: dict[str, Any] = {}
    if not processes:
        # TCP on the loopback, like worker processes: Dask's in-process transport would make the dashboard link
        # name the machine's address while the dashboard listens elsewhere.
        layout = {"n_workers": 1, "threads_per_worker": n_workers * threads_per_worker, "protocol": "tcp://"}
    elif fork_server:
        start_worker_server()
        _keep_our_forkserver_preload()
        settings["distributed.worker.multiprocessing-method"] = FORKSERVER
        # A fork has the forkserver's environment, from when it started; the Nanny sets these in the worker.
        layout["env"] = dict(os.environ)
    with (
        library_logs(verbose=verbose),
        # Dask's nannies give each worker MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's mmap threshold at
        # 128 KiB: every temporary array of a batch then gets pages of its own from the kernel, and scoring ran
        # 40% slower in a worker than in this process (docs/benchmarks.md). A value set in the environment stands.
        dask.config.set(
            {
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                # The statistical profiler walks the task thread's stack every 10 ms from the worker's event
                # loop, contending for the GIL: custom models that fit in Python ran 7% slower in a worker than
                # in a plain process (docs/benchmarks.md). Its only use is the dashboard's Profile page, and
                # --verbose keeps it for whoever debugs there.
                "distributed.worker.profile.enabled": verbose,
                # Every Dask server checks its event loop's health each 20 ms: two thirds of the idle CPU of this
                # process (its scheduler and nannies) and of each worker, on the cores the batches run on. A
                # second still reports a loop blocked for the 3 s that Dask warns about.
                "distributed.admin.tick.interval": "1s",
                **settings,
            }
        ),
        LocalCluster(
            **layout,
            host="127.0.0.1",
            processes=processes,
            dashboard_address=dashboard_address or ":0",
            silence_logs=worker_log_level(verbose=verbose),
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _keep_our_forkserver_preload() -> None:
    """Tell Dask that the forkserver's preload is set (it is: worker_server.py's WORKER_MODULES, started before).

    Otherwise Dask's first Nanny sets one itself (distributed.utils.get_mp_context), importing in this process
    every package Dask knows of, pandas among them, only to list them: a third of a second at the cluster's start
    for a list that comes too late to matter, the forkserver having started with ours."""
    if hasattr(distributed_utils, "_forkserver_preload_set"):
        distributed_utils._forkserver_preload_set = True


@contextmanager
def scheduler_client(address: str, *, timeout: float = 30.0) -> Iterator[Client]:
    with Client(address, timeout=timeout) as client:
        yield client


def connect(address: str, timeout: float, security: Any = None) -> Client:
    """A client whose scheduler has answered (its identity, and the workers it knows); the caller closes it.

    Raises TimeoutError after `timeout` seconds (plus a margin) whatever the peer does: Dask's handshake has no
    timeout of its own, and a listener that accepts and never answers would hold the caller for ever. The
    attempt is left behind in a daemon thread, which holds nothing but its socket."""
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            client = Client(address, timeout=timeout, set_as_default=False, security=security)
            try:
                client.scheduler_info(n_workers=-1)
            except BaseException:
                client.close()
                raise
            outcome["client"] = client
        except BaseException as err:  # handed to the caller as is
            outcome["error"] = err

    thread = threading.Thread(target=attempt, name=f"connect-{address}", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    if thread.is_alive():
        raise TimeoutError(f"{address} accepted a connection but did not answer within {timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    client: Client = outcome["client"]
    return client
