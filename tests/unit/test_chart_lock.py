"""Chart.lock: its digest is what helm computes (resolver.HashReq, recomputed by hack/release/chart_lock.py and
checked against helm itself), and the dependency it pins is the chart the dask-kubernetes wheel of the lock carries.

helm is asked offline: `helm dependency build` checks the lock's digest against Chart.yaml before it looks for the
dependency's repository, so with no repository configured a lock in sync fails on the repository, and one out of
sync fails on the digest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import dask_kubernetes
import pytest
import yaml
from hack.release.chart_lock import helm_digest, lock_text

from retrodiction_harness.chart import CHART, DASK_CHART
from tests.unit.release_tools import helm_or_skip

OUT_OF_SYNC = "out of sync"
NO_REPOSITORY = "no repository definition"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def helm_binary() -> str:
    return helm_or_skip()


def dependency_build(helm: str, chart: Path, home: Path) -> str:
    """`helm dependency build` with helm's configuration, caches and repositories confined to `home` (empty)."""
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_REPOSITORY_CONFIG": str(home / "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": str(home / "repository"),
    }
    result = subprocess.run(
        [helm, "dependency", "build", "--skip-refresh", str(chart)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode != 0, "no network and no repository: helm cannot have fetched the dependency"
    return result.stderr


def test_the_committed_lock_digest_is_recomputed_from_chart_yaml_and_the_lock() -> None:
    lock = load(CHART / "Chart.lock")
    assert lock["digest"] == helm_digest(load(CHART / "Chart.yaml")["dependencies"], lock["dependencies"])


def test_helm_accepts_the_committed_lock_and_refuses_it_once_chart_yaml_changes(
    helm_binary: str, tmp_path: Path
) -> None:
    chart = shutil.copytree(CHART, tmp_path / CHART.name)
    assert NO_REPOSITORY in dependency_build(helm_binary, chart, tmp_path / "home")
    chart_yaml = chart / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("condition: dask-kubernetes-operator.enabled", ""))
    assert OUT_OF_SYNC in dependency_build(helm_binary, chart, tmp_path / "home")


def test_helm_agrees_with_the_digest_of_every_dependency_field(helm_binary: str, tmp_path: Path) -> None:
    """The fields the project does not use yet (tags, alias, import-values, a URL with `&`, which Go escapes)
    serialize as helm's Go code does: helm finds the written lock in sync."""
    chart = tmp_path / "fields"
    chart.mkdir()
    requirements: list[dict[str, Any]] = [
        {"name": "a", "version": "1.2.3", "repository": "https://charts.example.org/x?y=1&z=2", "condition": "a.on"},
        {"name": "b", "version": "0.1.0", "repository": "https://charts.example.org", "tags": ["t1", "t2"],
         "alias": "bee", "import-values": ["data", {"child": "c", "parent": "p"}]},
    ]  # fmt: skip
    metadata_yaml = {"apiVersion": "v2", "name": "fields", "version": "0.1.0", "dependencies": requirements}
    (chart / "Chart.yaml").write_text(yaml.safe_dump(metadata_yaml, sort_keys=False))
    (chart / "Chart.lock").write_text(lock_text(chart / "Chart.yaml", datetime(2026, 1, 1, tzinfo=UTC)))
    assert NO_REPOSITORY in dependency_build(helm_binary, chart, tmp_path / "home")
    requirements[1]["alias"] = "other"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(metadata_yaml, sort_keys=False))
    assert OUT_OF_SYNC in dependency_build(helm_binary, chart, tmp_path / "home")


def test_the_locked_dependency_is_the_chart_the_dask_kubernetes_wheel_carries() -> None:
    """The dependency cannot be downloaded here; the dask-kubernetes release of requirements/lock.txt ships the
    same chart (its version set by their release tool to the package's), which the tests install from."""
    (locked,) = load(CHART / "Chart.lock")["dependencies"]
    (required,) = load(CHART / "Chart.yaml")["dependencies"]
    assert locked["name"] == required["name"] == DASK_CHART
    # `make install` syncs the venv to requirements/lock.txt exactly, so this is the lock's pin.
    assert locked["version"] == str(required["version"]) == metadata.version("dask-kubernetes")
    carried = Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm" / DASK_CHART
    assert load(carried / "Chart.yaml")["name"] == DASK_CHART
