"""e2e fixtures: `kube` (one cluster per session) and `namespace` (a fresh namespace per test).

Every test under tests/e2e is marked `e2e`. When no cluster can be had the tests are skipped with the reason,
except in CI (CI=true), where they fail: CI must never skip them silently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.e2e.harness.binaries import BinariesUnavailableError, tool
from tests.e2e.harness.cluster import (
    ClusterUnavailableError,
    Kube,
    create_namespace,
    delete_namespace,
    in_ci,
    open_cluster,
)

_E2E_DIR = Path(__file__).parent
_STARTUP = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    line = config.stash.get(_STARTUP, None)
    if line:
        terminalreporter.write_line(line)


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail in CI, because something an e2e test needs cannot be had."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: e2e tests must not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tools() -> None:
    """kubectl and helm, for tests that need a tool but no cluster (see harness.binaries.tool)."""
    try:
        for name in ("kubectl", "helm"):
            tool(name)
    except BinariesUnavailableError as error:
        unavailable(str(error))


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> Iterator[Kube]:
    """The session's cluster: a local control plane (--cluster=local) or KUBECONFIG's (--cluster=existing)."""
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
            request.config.stash[_STARTUP] = line
        yield cluster


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new namespace named after the test, with its default ServiceAccount; deletion starts after the test."""
    name = create_namespace(kube.api, request.node.name)
    yield name
    delete_namespace(kube.api, name)


# ---------------------------------------------------------------------------------------------------------------
# Node stand-in (tests/e2e/harness/node.py): runs pods as local processes on the local control plane.

from tests.e2e.harness.node import NodeStandIn  # noqa: E402


@pytest.fixture(scope="session")
def node(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeStandIn | None]:
    """The node that runs pods with --cluster=local (pod logs under its workdir); None on an existing cluster,
    whose own nodes run them."""
    if not kube.local:
        yield None
        return
    with NodeStandIn(kube.kubeconfig, tmp_path_factory.mktemp("node")) as stand_in:
        yield stand_in


# --- the dask-kubernetes controller (shared by every test that needs DaskClusters) ------------------------------

from tests.e2e.harness.dask_controller import (  # noqa: E402
    dask_kubernetes_controller,
    install_dask_controller_chart,
    install_missing_dask_crds,
)
from tests.e2e.harness.processes import ManagedProcess  # noqa: E402


@pytest.fixture(scope="session")
def dask_crds(kube: Kube) -> None:
    install_missing_dask_crds(kube.api)


@pytest.fixture(scope="session")
def dask_controller(
    kube: Kube, dask_crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedProcess | None]:
    """The controller from the installed package on the local cluster; on the real node (--cluster=node) its pod,
    installed by its chart; None on an existing cluster, which runs its own (the dask-kubernetes operator chart)."""
    if kube.real_node is not None:
        install_dask_controller_chart(kube, kube.real_node, tmp_path_factory.mktemp("dask-chart"))
        yield None
        return
    if not kube.local:
        yield None
        return
    with dask_kubernetes_controller(kube.kubeconfig, tmp_path_factory.mktemp("dask-controller")) as controller:
        yield controller


# --- the operator under test, one per test module ---------------------------------------------------------------

from tests.e2e.harness.operator_process import OperatorProcess, running_operator  # noqa: E402


@pytest.fixture(scope="module")
def operator(
    kube: Kube, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """`retrodiction operator` as a process, with the module's OPERATOR_SETTINGS (RETRODICTION_* names without the
    prefix, lower case), and the node that runs each run's driver pod. A module whose runs start DaskClusters sets
    DASK_PODS = True to get the dask-kubernetes controller as well."""
    request.getfixturevalue("node")
    if getattr(request.module, "DASK_PODS", False):
        request.getfixturevalue("dask_controller")
    settings: dict[str, str] = dict(getattr(request.module, "OPERATOR_SETTINGS", {}))
    if kube.real_node is not None:  # drivers and Dask pods run the worker image built here, not a module's
        settings["worker_image"] = kube.real_node.images.worker  # (those name the kind workflow's image)
    with running_operator(kube, tmp_path_factory.mktemp("operator"), **settings) as process:
        yield process
