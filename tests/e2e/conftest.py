"""The project's e2e fixtures: the dask-kubernetes controller and the operator under test.

The cluster itself (`kube`, `namespace`, `node`, `tools`, --cluster, the `e2e` marker and the skip-or-fail-in-CI
rule) comes from the harness's pytest plugin, harness/src/retrodiction_harness/pytest_plugin.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retrodiction_harness.cluster import Kube
from retrodiction_harness.dask_controller import (
    dask_kubernetes_controller,
    install_dask_controller_chart,
    install_missing_dask_crds,
)
from retrodiction_harness.operator_process import OperatorProcess, running_operator
from retrodiction_harness.processes import ManagedProcess


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
