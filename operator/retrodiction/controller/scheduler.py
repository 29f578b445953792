"""Finding a run's Dask scheduler and making sure it really accepts work before the run counts on it.

A DaskCluster reports Running when its scheduler Service exists, not when the scheduler answers
(dask-kubernetes#655, #968), so the operator probes the scheduler itself.
"""

from __future__ import annotations

import os
from typing import Literal

from distributed import Client

SCHEDULER_PORT_NAME = "tcp-comm"


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def resolution_mode(setting: Literal["auto", "dns", "endpoints"]) -> Literal["dns", "endpoints"]:
    """Cluster DNS inside a pod; outside (a laptop, the test harness) the Service's ready endpoints."""
    if setting == "auto":
        return "dns" if in_cluster() else "endpoints"
    return setting


def dns_address(cluster_name: str, namespace: str, port: int = 8786) -> str:
    return f"tcp://{cluster_name}-scheduler.{namespace}.svc:{port}"


def endpoint_address(endpoints: list[tuple[str, int]]) -> str | None:
    """The first ready endpoint as a Dask address; a scheduler Service has one backing pod."""
    if not endpoints:
        return None
    host, port = sorted(endpoints)[0]
    return f"tcp://{host}:{port}"


def connect(address: str, timeout: float) -> Client:
    """A client whose scheduler has answered (its identity, and the workers it knows); the caller closes it."""
    client = Client(address, timeout=timeout, set_as_default=False)
    try:
        client.scheduler_info(n_workers=-1)
    except BaseException:
        client.close()
        raise
    return client
