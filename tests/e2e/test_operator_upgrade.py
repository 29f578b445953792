"""An upgrade from the version before drivers (`helm upgrade`: the new CRDs, then the new operator replaces the
old one): a run the previous operator was computing in its own process finishes under this version, in a driver,
from the previous operator's checkpoints, with the same summary as the CLI and no checkpoint left behind.

The previous version is taken from the repository's history, so this module needs a clone with history (CI's
`git clone` has it; a shallow clone fails here with the fix named rather than skipping).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from retrodiction.identity import GROUP, VERSION
from retrodiction_harness.cluster import Kube
from retrodiction_harness.crds import apply_crd, apply_project_crds
from retrodiction_harness.node import NodeStandIn
from retrodiction_harness.operator_process import OperatorProcess
from retrodiction_harness.repo import REPO_ROOT
from tests.e2e.runs import (
    PLURAL,
    checkpointed_batches,
    cli_results,
    custom,
    get_run,
    kubectl,
    stored_summary,
    wait_for_progress,
    weekly_co2_run,
)
from tests.results import assert_same_results

# The last commit whose operator computed runs in its own process (before each run got a driver Job).
PREVIOUS_VERSION = "3dcd27e935a0caee92ff9b717d7130add0131327"


@pytest.fixture(scope="module")
def previous_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous version's `operator/` package and CRDs, unpacked from git."""
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", PREVIOUS_VERSION, "operator", "crds"], capture_output=True, check=False
    )
    assert archive.returncode == 0, (
        f"the upgrade test needs commit {PREVIOUS_VERSION[:12]} (run `git fetch --unshallow`): "
        + archive.stderr.decode(errors="replace")
    )
    folder = tmp_path_factory.mktemp("previous-version")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def test_a_run_the_previous_version_was_computing_finishes_after_an_upgrade_from_its_checkpoints(
    kube: Kube, namespace: str, node: NodeStandIn | None, previous_version: Path, tmp_path: Path
) -> None:
    for path in sorted((previous_version / "crds").glob("*.yaml")):
        apply_crd(kube.api, yaml.safe_load(path.read_text()))
    body = weekly_co2_run("upgraded")
    try:
        with OperatorProcess(kube.kubeconfig, tmp_path / "previous", source=previous_version / "operator"):
            custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
            wait_for_progress(kube, namespace, "upgraded", at_least=300)
        run = get_run(kube, namespace, "upgraded")
        left_by_previous = checkpointed_batches(kube, namespace, run)
        assert left_by_previous, "the previous version checkpointed what it finished"
    finally:
        apply_project_crds(kube.api)

    with OperatorProcess(kube.kubeconfig, tmp_path / "current") as current:
        waited = kubectl(kube, "wait", "-n", namespace, "--for=condition=Complete", "rt/upgraded", "--timeout=300s")
        assert waited.returncode == 0, waited.stderr + current.tail()
    run = get_run(kube, namespace, "upgraded")
    batches = run["status"]["batches"]
    assert batches["succeeded"] == batches["total"]
    assert batches["resumed"] == len(left_by_previous), "the driver took every batch the previous version finished"
    assert checkpointed_batches(kube, namespace, run) == set()
    summary, _ = stored_summary(kube, namespace, run)
    assert_same_results(summary["results"], cli_results(body))
