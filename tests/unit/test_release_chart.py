"""The release's chart steps without pushing (hack/release/chart.py): the chart packaged at the source version
with its dependency, and pushed by digest to the namespace its default images come from.

helm is the project's build (hack/controlplane/build.sh) or the one on PATH; without either the packaging tests
skip, except under CI. The dependency chart comes from the dask-kubernetes wheel, as in the e2e tier: the release
workflow fetches the same chart from its repository with `helm dependency build` (network), the one step not run
here.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
from pathlib import Path

import pytest
import yaml
from hack.release.chart import ChartError, oci_repository, package, packaged_metadata, push
from hack.release.images import default_repository
from hack.release.version import current

from retrodiction_harness.chart import CHART, helm, prepared_chart
from tests.unit.release_tools import helm_or_skip


@pytest.fixture(scope="module")
def helm_binary() -> str:
    return helm_or_skip()


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    return prepared_chart(tmp_path / "src")


def test_the_chart_is_packaged_at_the_source_version_with_its_dependency(
    helm_binary: str, chart_copy: Path, tmp_path: Path
) -> None:
    packaged = package(tmp_path / "dist", chart_copy, helm_binary)
    assert packaged.name == f"retrodiction-operator-{current()}.tgz"
    metadata, dependencies = packaged_metadata(packaged)
    assert (metadata["version"], metadata["appVersion"]) == (current(), current())
    assert dependencies == ["dask-kubernetes-operator"]


def test_the_packaged_chart_runs_the_released_images_by_default(
    helm_binary: str, chart_copy: Path, tmp_path: Path
) -> None:
    packaged = package(tmp_path / "dist", chart_copy, helm_binary)
    result = helm("template", "rel", str(packaged), "--namespace", "retrodiction-system")
    assert result.returncode == 0, result.stderr
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    (deployment,) = [doc for doc in documents if doc["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{default_repository('operator')}:{current()}"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["RETRODICTION_WORKER_IMAGE"] == f"{default_repository('worker')}:{current()}"


def test_a_chart_not_stamped_with_the_source_version_is_not_packaged(
    helm_binary: str, chart_copy: Path, tmp_path: Path
) -> None:
    chart_yaml = chart_copy / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace(f'appVersion: "{current()}"', 'appVersion: "0.0.0"'))
    with pytest.raises(ChartError, match="appVersion"):
        package(tmp_path / "dist", chart_copy, helm_binary)
    assert not (tmp_path / "dist").exists()


def test_a_chart_without_its_dependency_is_not_packaged(helm_binary: str, tmp_path: Path) -> None:
    """What `helm dependency build` puts under charts/ must be there: helm itself refuses otherwise."""
    bare = tmp_path / CHART.name
    shutil.copytree(CHART, bare, ignore=lambda folder, _: ["charts"] if Path(folder) == CHART else [])
    with pytest.raises(ChartError, match="dask-kubernetes-operator"):
        package(tmp_path / "dist", bare, helm_binary)


def test_the_chart_is_pushed_beside_the_images_and_named_by_digest(tmp_path: Path) -> None:
    """`helm push`'s digest is what the workflow signs; a stand-in helm prints what helm 3 prints."""
    packaged = tmp_path / f"retrodiction-operator-{current()}.tgz"
    digest = "sha256:" + "ab" * 32
    fake = tmp_path / "helm"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/args\n'
        f'echo "Pushed: ghcr.io/retrodiction/charts/retrodiction-operator:{current()}" >&2\n'
        f'echo "Digest: {digest}" >&2\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with tarfile.open(packaged, "w:gz") as archive:
        archive.add(CHART / "Chart.yaml", arcname="retrodiction-operator/Chart.yaml")
    reference = push(packaged, str(fake))
    assert oci_repository() == "oci://ghcr.io/retrodiction/charts"
    assert reference == f"ghcr.io/retrodiction/charts/retrodiction-operator@{digest}"
    assert (tmp_path / "args").read_text().split() == ["push", str(packaged), oci_repository()]


def test_a_push_without_a_digest_fails(tmp_path: Path) -> None:
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho 'Pushed: somewhere'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(ChartError, match="no digest"):
        push(tmp_path / "retrodiction-operator-0.1.0.tgz", str(fake))
