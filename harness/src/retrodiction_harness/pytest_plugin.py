"""The pytest plugin of the harness (entry point `pytest11` in harness/pyproject.toml): a cluster for e2e tests.

Options `--cluster` and `--keep-cluster`; fixtures `tools` (kubectl and helm), `kube` (one cluster per session),
`namespace` (a fresh namespace per test) and `node` (the node stand-in that runs pods on the local control plane).
Every test under a folder named `e2e` is marked `e2e`. When no cluster can be had the tests are skipped with the
reason, except in CI (CI=true), where they fail (ci.unavailable).

pytest loads this module in every run of the environment, unit tests too: it imports only pytest and the standard
library at import time, and the cluster modules (the Kubernetes client, cryptography) inside the fixtures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from retrodiction_harness.ci import in_ci, unavailable

if TYPE_CHECKING:
    from retrodiction_harness.cluster import Kube
    from retrodiction_harness.node import NodeStandIn

E2E_FOLDER = "e2e"
# The "local control plane: ready in ..." line, repeated after the session's summary.
STARTUP_LINE = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("retrodiction e2e")
    group.addoption(
        "--cluster",
        choices=("local", "node", "existing"),
        default="local",
        help=(
            "where e2e tests run: 'local' (default) starts etcd + kube-apiserver + kube-controller-manager on "
            "127.0.0.1 from `bash hack/controlplane/build.sh`'s binaries (skipped if they are not built) with the "
            "node stand-in; 'node' adds a real kubelet + containerd node with CoreDNS and the images built from "
            "worker_image/Dockerfile (root, `make node-deps`); 'existing' uses the cluster in KUBECONFIG"
        ),
    )
    group.addoption(
        "--keep-cluster",
        action="store_true",
        default=False,
        help="keep the local control plane's workdir (certs, kubeconfig, logs, etcd data) after the session",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{E2E_FOLDER}: needs a real Kubernetes API server (tests under {E2E_FOLDER}/)")


def in_e2e_folder(path: Path, root: Path) -> bool:
    """Whether a test file lies under a folder named `e2e` below the rootdir (folders above it do not count)."""
    try:
        folders = path.relative_to(root).parts[:-1]
    except ValueError:
        return False
    return E2E_FOLDER in folders


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if in_e2e_folder(item.path, config.rootpath):
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    line = config.stash.get(STARTUP_LINE, None)
    if line:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def tools() -> None:
    """kubectl and helm, for tests that need a tool but no cluster (see binaries.tool)."""
    from retrodiction_harness.binaries import BinariesUnavailableError, tool

    try:
        for name in ("kubectl", "helm"):
            tool(name)
    except BinariesUnavailableError as error:
        unavailable(str(error))


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> Iterator[Kube]:
    """The session's cluster: a local control plane (--cluster=local), one with a real node (--cluster=node) or
    KUBECONFIG's (--cluster=existing)."""
    from retrodiction_harness.cluster import ClusterUnavailableError, open_cluster

    stack = contextlib.ExitStack()
    try:
        cluster = stack.enter_context(
            open_cluster(
                request.config.getoption("cluster"),
                keep=request.config.getoption("keep_cluster"),
                allow_build=in_ci(),
            )
        )
    except ClusterUnavailableError as error:
        stack.close()
        unavailable(str(error))
    with stack:
        control_plane = cluster.control_plane
        if control_plane is not None:
            line = (
                f"local control plane: ready in {control_plane.startup_seconds:.1f} s at {control_plane.server} "
                f"(workdir {control_plane.workdir})"
            )
            print(line)
            request.config.stash[STARTUP_LINE] = line
        yield cluster


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new namespace named after the test, with its default ServiceAccount; deletion starts after the test."""
    from retrodiction_harness.cluster import create_namespace, delete_namespace

    name = create_namespace(kube.api, request.node.name)
    yield name
    delete_namespace(kube.api, name)


@pytest.fixture(scope="session")
def node(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeStandIn | None]:
    """The node that runs pods with --cluster=local (pod logs under its workdir); None on an existing cluster or
    the real node, whose own nodes run them."""
    from retrodiction_harness.node import NodeStandIn

    if not kube.local:
        yield None
        return
    with NodeStandIn(kube.kubeconfig, tmp_path_factory.mktemp("node")) as stand_in:
        yield stand_in
