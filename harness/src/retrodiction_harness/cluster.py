"""The cluster an e2e session runs against: a local ControlPlane, or whatever KUBECONFIG points at."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from retrodiction_harness.binaries import BinariesUnavailableError, ensure_bin_dir
from retrodiction_harness.controlplane import ControlPlane
from retrodiction_harness.kubeconfig import load_configuration
from retrodiction_harness.names import dns_label
from retrodiction_harness.realnode.product import ProductNode, node_for_the_product, node_unavailable

LOCAL = "local"
NODE = "node"
EXISTING = "existing"
TEST_LABEL = "retrodiction.test/e2e"


class ClusterUnavailableError(RuntimeError):
    """No cluster can be had in this environment (a reason to skip, or to fail in CI)."""


@dataclass(frozen=True)
class Kube:
    """A reachable cluster and an admin client for it."""

    kubeconfig: Path
    api: client.ApiClient
    local: bool
    control_plane: ControlPlane | None
    # --cluster=node: the real node, its images and cluster DNS (pods run from images, not as local processes).
    real_node: ProductNode | None = None


def _existing_kubeconfig() -> Path:
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    path = Path(paths[0] if paths else "~/.kube/config").expanduser()
    if not path.is_file():
        raise ClusterUnavailableError(f"--cluster=existing: no kubeconfig at {path} (set KUBECONFIG)")
    return path


@contextlib.contextmanager
def _global_kube_settings(kubeconfig: Path, configuration: client.Configuration) -> Iterator[None]:
    # Code under test that loads the default config (Kopf, kr8s, kubernetes.client) must reach this cluster and no
    # other, even when the person running the tests has a KUBECONFIG for a real one.
    saved_env = os.environ.get("KUBECONFIG")
    saved_default = client.Configuration._default
    os.environ["KUBECONFIG"] = str(kubeconfig)
    client.Configuration.set_default(configuration)
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = saved_env
        client.Configuration.set_default(saved_default)


@contextlib.contextmanager
def open_cluster(mode: str, *, keep: bool = False, allow_build: bool = False) -> Iterator[Kube]:
    """Yield a Kube for `mode` ("local", "node" or "existing"); raise ClusterUnavailableError when none can be
    had."""
    control_plane: ControlPlane | None = None
    real_node: ProductNode | None = None
    with contextlib.ExitStack() as stack:
        if mode == LOCAL:
            try:
                bin_dir = ensure_bin_dir(allow_build=allow_build)
            except BinariesUnavailableError as error:
                raise ClusterUnavailableError(str(error)) from error
            control_plane = stack.enter_context(ControlPlane(bin_dir, keep_workdir=True if keep else None))
            kubeconfig = control_plane.kubeconfig
        elif mode == NODE:
            missing = node_unavailable()
            if missing:
                raise ClusterUnavailableError(f"--cluster=node: {missing}")
            real_node = stack.enter_context(node_for_the_product())
            control_plane = real_node.node.control_plane
            assert control_plane is not None
            kubeconfig = control_plane.kubeconfig
        elif mode == EXISTING:
            kubeconfig = _existing_kubeconfig()
        else:
            raise ValueError(f"unknown cluster mode {mode!r}")
        configuration = load_configuration(kubeconfig)
        if control_plane is not None:
            configuration.proxy = None  # 127.0.0.1 is never reached through a proxy
        api = stack.enter_context(client.ApiClient(configuration))
        if control_plane is None:
            try:
                client.VersionApi(api).get_code(_request_timeout=15)
            except Exception as error:
                raise ClusterUnavailableError(
                    f"--cluster=existing: cannot reach the cluster in {kubeconfig}: {error}"
                ) from error
        stack.enter_context(_global_kube_settings(kubeconfig, configuration))
        local = control_plane is not None and real_node is None
        yield Kube(kubeconfig=kubeconfig, api=api, local=local, control_plane=control_plane, real_node=real_node)


def create_namespace(api: client.ApiClient, test_name: str, timeout: float = 30.0) -> str:
    """Create a namespace named after the test and wait for its default ServiceAccount (pods need it)."""
    core = client.CoreV1Api(api)
    name = dns_label(test_name)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={TEST_LABEL: "true"})))
    deadline = time.monotonic() + timeout
    while True:
        try:
            core.read_namespaced_service_account("default", name)
            return name
        except client.ApiException as error:
            if error.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def delete_namespace(api: client.ApiClient, name: str) -> None:
    """Start deleting the namespace; the namespace controller finishes in the background."""
    try:
        client.CoreV1Api(api).delete_namespace(name)
    except client.ApiException as error:
        if error.status != 404:
            raise
