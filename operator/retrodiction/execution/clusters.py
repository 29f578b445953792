"""Dask clusters to run on: a LocalCluster of worker processes, or an existing scheduler by address."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster


@contextmanager
def local_cluster_client(
    n_workers: int, *, threads_per_worker: int = 1, dashboard_address: str | None = None
) -> Iterator[Client]:
    """A LocalCluster of `n_workers` processes, closed on exit.

    One thread per worker: the engine is numpy-bound and holds the GIL in places, so processes scale and threads
    would not. The scheduler always serves HTTP (health, metrics, dashboard); without an address it takes a free
    port rather than 8787, which another cluster on the machine may hold.
    """
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=dashboard_address or ":0",
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def scheduler_client(address: str, *, timeout: float = 30.0) -> Iterator[Client]:
    with Client(address, timeout=timeout) as client:
        yield client
