"""Reaching a run's Dask scheduler from a test, the way only a holder of the run's certificate can."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import distributed
from distributed.security import Security
from kubernetes import client

from retrodiction.api.children import TLS_CA_KEY, TLS_CERT_KEY, TLS_KEY_KEY, dask_cluster_name, tls_secret_name
from retrodiction_harness.cluster import Kube


def scheduler_pod_ip(kube: Kube, namespace: str, run: str) -> str:
    pods = (
        client.CoreV1Api(kube.api)
        .list_namespaced_pod(
            namespace, label_selector=f"dask.org/cluster-name={dask_cluster_name(run)},dask.org/component=scheduler"
        )
        .items
    )
    ready = [pod.status.pod_ip for pod in pods if pod.status and pod.status.pod_ip]
    assert ready, f"no scheduler pod of run {run} has an address"
    return str(ready[0])


def run_security(kube: Kube, namespace: str, run: str) -> Security:
    """The run's own certificates (read from its TLS Secret with the test's admin credentials)."""
    secret = client.CoreV1Api(kube.api).read_namespaced_secret(tls_secret_name(run), namespace)
    data = {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}
    return Security(
        tls_ca_file=data[TLS_CA_KEY],
        tls_client_cert=data[TLS_CERT_KEY],
        tls_client_key=data[TLS_KEY_KEY],
        require_encryption=True,
    )


@contextmanager
def run_scheduler_client(kube: Kube, namespace: str, run: str) -> Iterator[distributed.Client]:
    address = f"tls://{scheduler_pod_ip(kube, namespace, run)}:8786"
    with distributed.Client(address, security=run_security(kube, namespace, run), timeout=30) as dask:
        yield dask
