"""The real dask-kubernetes controller turns a DaskCluster into scheduler and worker pods that compute.

The controller is the installed package run by Kopf (`kopf run -m dask_kubernetes.operator.controller`), with its
CRDs from the package. With --cluster=local its pods run on the node stand-in and the test reaches the scheduler at
its Service's ready endpoint (127.0.0.N:8786, never the ClusterIP); on an existing cluster through the
port-forward dask-kubernetes itself uses outside a cluster.

Out of a cluster the controller only dials the scheduler to retire workers (scale down), for idle checks
(spec.idleTimeout) and for autoscaling, each time first resolving `<cluster>-scheduler.<ns>` with the machine's
resolver and then port-forwarding: this test uses none of these, so the controller talks to the API server only.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

import distributed
import psutil  # type: ignore[import-untyped]
from dask_kubernetes.operator import KubeCluster, make_cluster_spec
from dask_kubernetes.operator.kubecluster.kubecluster import CreateMode

from retrodiction_harness.cluster import Kube
from retrodiction_harness.node import NodeStandIn
from retrodiction_harness.node_api import KubeRest
from retrodiction_harness.node_endpoints import service_endpoint
from retrodiction_harness.processes import ManagedProcess
from retrodiction_harness.waiting import eventually

GROUP, VERSION, PLURAL = "kubernetes.dask.org", "v1", "daskclusters"
CLUSTER = "demo"
VENV_BIN = Path(sys.prefix) / "bin"


def dask_cluster_spec(name: str) -> dict[str, Any]:
    """make_cluster_spec, with the commands distributed 2026.8 ships (`dask scheduler`/`dask worker`; the
    `dask-scheduler` it hard-codes is gone) and every listener on 0.0.0.0, which is the pod address on a real
    node and on the stand-in alike (left implicit, the worker would advertise the machine's outward address)."""
    image = f"ghcr.io/dask/dask:{version('distributed')}-py{sys.version_info.major}.{sys.version_info.minor}"
    spec: dict[str, Any] = make_cluster_spec(name, image=image, n_workers=1, env={})
    [scheduler] = spec["spec"]["scheduler"]["spec"]["containers"]
    scheduler["command"] = ["dask", "scheduler"]
    scheduler["args"] = ["--host", "0.0.0.0", "--dashboard-address", "0.0.0.0:8787"]
    [worker] = spec["spec"]["worker"]["spec"]["containers"]
    worker["command"] = ["dask", "worker"]
    worker["args"] = [
        "--name",
        "$(DASK_WORKER_NAME)",
        "--host",
        "0.0.0.0",
        "--dashboard",
        "--dashboard-address",
        "0.0.0.0:8788",
    ]
    return spec


def ready_pods(rest: KubeRest, namespace: str, component: str) -> list[dict[str, Any]]:
    selector = f"dask.org/cluster-name={CLUSTER},dask.org/component={component}"
    pods = rest.list_items(f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": selector})
    return [
        pod
        for pod in pods
        if pod["status"].get("phase") == "Running"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])
    ]


def remote_addresses(pids: list[int]) -> set[str]:
    """Remote addresses of the open inet connections of these processes and their children."""
    found: set[str] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                found.update(c.raddr.ip for c in process.net_connections(kind="inet") if c.raddr)
        except psutil.NoSuchProcess:
            continue
    return found


def test_dask_kubernetes_controller_runs_a_daskcluster_whose_scheduler_and_worker_compute(
    kube: Kube, node: NodeStandIn | None, namespace: str, dask_controller: ManagedProcess | None
) -> None:
    rest = KubeRest(kube.api)
    clusters = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    pods = f"/api/v1/namespaces/{namespace}/pods"

    def diagnostics() -> str:
        lines = [f"{p['metadata']['name']}: {p['status']}" for p in rest.list_items(pods)]
        log = dask_controller.log_tail(3000) if dask_controller else "(the cluster's own controller)"
        return "\n".join([*lines, "controller log:", log])

    rest.create(clusters, dask_cluster_spec(CLUSTER))
    [scheduler] = eventually(lambda: ready_pods(rest, namespace, "scheduler"), "a ready scheduler pod", diagnostics)
    [worker] = eventually(lambda: ready_pods(rest, namespace, "worker"), "a ready worker pod", diagnostics)

    with ExitStack() as stack:
        if node is not None:
            address = service_endpoint(kube.api, namespace, f"{CLUSTER}-scheduler", 8786)
            assert address == f"{scheduler['status']['podIP']}:8786"
        else:
            cluster = stack.enter_context(
                KubeCluster(
                    name=CLUSTER,
                    namespace=namespace,
                    create_mode=CreateMode.CONNECT_ONLY,
                    shutdown_on_close=False,
                    port_forward_cluster_ip=True,
                )
            )
            address = cluster.scheduler_address.removeprefix("tcp://")
        dask = stack.enter_context(distributed.Client(f"tcp://{address}", timeout=60))
        dask.wait_for_workers(1, timeout=60)
        assert dask.submit(sum, [1, 2, 3]).result(timeout=60) == 6
        if node is not None:
            [worker_address] = dask.scheduler_info()["workers"]
            assert worker_address.startswith(f"tcp://{worker['status']['podIP']}:")
            assert dask_controller is not None
            pids = [dask_controller.pid or 0, os.getpid()]
            for pod in (scheduler, worker):
                pids += node.pids(namespace, pod["metadata"]["name"]).values()
            outside = {ip for ip in remote_addresses(pids) if not ipaddress.ip_address(ip).is_loopback}
            assert not outside, f"connections leave 127.0.0.0/8: {outside}"

    rest.delete(f"{clusters}/{CLUSTER}")
    # Garbage collection through ownerReferences; its first pass over a new CRD may wait for its 30 s resync.
    eventually(
        lambda: not rest.list_items(pods, {"labelSelector": f"dask.org/cluster-name={CLUSTER}"}),
        "the DaskCluster's pods to be deleted",
        diagnostics,
    )
