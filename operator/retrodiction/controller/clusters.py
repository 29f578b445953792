"""The Dask cluster a run computes on, for each spec.dask.mode, as a context manager yielding a connected client.

kubernetes: a DaskCluster owned by the run, ready only once its scheduler answers a client (not when
dask-kubernetes says Running). address: an existing scheduler, probed the same way. local: a LocalCluster inside
the operator, for small runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from distributed import Client, LocalCluster

from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.controller.children import dask_cluster_name
from retrodiction.controller.dask_cluster import build_dask_cluster
from retrodiction.controller.kube import KubeApi
from retrodiction.controller.scheduler import (
    SCHEDULER_PORT_NAME,
    connect,
    dns_address,
    endpoint_address,
    resolution_mode,
)
from retrodiction.controller.settings import OperatorSettings

log = logging.getLogger(__name__)


class Flag(Protocol):
    """A stop flag: threading.Event, or the `stopped` Kopf hands a daemon (whose wait returns itself, truthy)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> object: ...


class ClusterFailedError(RuntimeError):
    """The cluster could not be had (startup deadline, an error phase, a name taken): the run fails."""


class StoppedError(RuntimeError):
    """The run was stopped (deleted, suspended, operator exiting) while its cluster was starting."""


@dataclass
class ClusterHandle:
    client: Client
    ref: dict[str, Any] = field(default_factory=dict)  # status.daskCluster
    workers: int = 1


@contextmanager
def open_cluster(
    api: KubeApi,
    settings: OperatorSettings,
    run_meta: Mapping[str, Any],
    spec: RetrodictionTrainingSpec,
    stopped: Flag,
) -> Iterator[ClusterHandle]:
    mode = spec.dask.mode
    if mode == "local":
        workers = min(spec.dask.workers, settings.local_max_workers)
        # Threads, not processes: forking the operator would copy its event loop and API connections.
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=":0") as local,
            Client(local, set_as_default=False) as client,
        ):
            yield ClusterHandle(client, {"schedulerAddress": local.scheduler_address}, workers)
        return
    if mode == "address":
        assert spec.dask.address is not None  # the spec's validator and CEL rule guarantee it
        given = spec.dask.address
        found, client = _wait_for_scheduler(lambda: given, settings, stopped, what=given)
        with client:
            yield ClusterHandle(client, {"schedulerAddress": found}, spec.dask.workers)
        return
    name = dask_cluster_name(run_meta["name"])
    image = spec.dask.image or settings.worker_image
    api.ensure_dask_cluster(build_dask_cluster(run_meta, spec, image=image), run_meta["uid"])
    namespace = run_meta["namespace"]
    use_dns = resolution_mode(settings.scheduler_resolution) == "dns"

    def address() -> str | None:
        cluster = api.get_dask_cluster(namespace, name)
        if cluster is None:
            raise ClusterFailedError(f"DaskCluster {name} disappeared while starting")
        if (cluster.get("status") or {}).get("phase") == "Error":
            raise ClusterFailedError(f"DaskCluster {name} is in phase Error")
        if use_dns:
            return dns_address(name, namespace)
        return endpoint_address(api.ready_endpoints(namespace, f"{name}-scheduler", SCHEDULER_PORT_NAME))

    resolved, client = _wait_for_scheduler(address, settings, stopped, what=f"DaskCluster {name}")
    with client:
        yield ClusterHandle(client, {"name": name, "schedulerAddress": resolved}, spec.dask.workers)


def delete_cluster(api: KubeApi, run_meta: Mapping[str, Any], spec: RetrodictionTrainingSpec) -> None:
    if spec.dask.mode == "kubernetes":
        api.delete_dask_cluster(run_meta["namespace"], dask_cluster_name(run_meta["name"]))


def _wait_for_scheduler(
    address: Callable[[], str | None], settings: OperatorSettings, stopped: Flag, *, what: str
) -> tuple[str, Client]:
    """Poll until the scheduler answers a client, and keep that client; ClusterFailedError past the deadline."""
    deadline = time.monotonic() + settings.cluster_startup_timeout_seconds
    last_error = "no ready scheduler endpoint yet"
    while True:
        if stopped.is_set():
            raise StoppedError(f"stopped while waiting for {what}")
        candidate = address()
        if candidate:
            try:
                return candidate, connect(candidate, settings.scheduler_probe_timeout_seconds)
            except (OSError, TimeoutError) as err:
                last_error = f"{type(err).__name__}: {err}"
        if time.monotonic() > deadline:
            raise ClusterFailedError(
                f"{what}: scheduler did not answer within {settings.cluster_startup_timeout_seconds:.0f} s "
                f"({last_error})"
            )
        stopped.wait(1.0)
