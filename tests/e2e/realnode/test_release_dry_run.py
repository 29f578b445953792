"""The real node's images are the release's image build, dry run: built with the build arguments of the release plan
(hack/release/images.py, run by .github/workflows/release.yaml), so they carry the version the release would stamp.
(The chart's package dry run is tests/unit/test_release_chart.py.)"""

from __future__ import annotations

import tomllib

import pytest

from retrodiction_harness.binaries import project_cache_dir
from retrodiction_harness.realnode.images import DRY_RUN_REVISION, NodeImages, Podman, build_node_images, image_labels
from retrodiction_harness.repo import REPO_ROOT

CACHE = project_cache_dir() / "node-images"


@pytest.fixture(scope="module")
def images() -> NodeImages:
    return build_node_images(CACHE)


@pytest.fixture(scope="module")
def podman() -> Podman:
    return Podman(CACHE / "podman")


def project_version() -> str:
    version: str = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


@pytest.mark.parametrize("target", ["operator", "worker"])
def test_each_image_carries_the_release_version_and_revision_labels(
    images: NodeImages, podman: Podman, target: str
) -> None:
    image = getattr(images, target)
    labels = image_labels(podman, image, images.archives[image])
    assert labels["org.opencontainers.image.version"] == project_version()
    assert labels["org.opencontainers.image.revision"] == DRY_RUN_REVISION
    assert labels["org.opencontainers.image.source"].startswith("https://")


def test_the_operator_image_reports_the_release_version(images: NodeImages, podman: Podman) -> None:
    output = podman.run_container(images.operator, "retrodiction", "--version")
    assert output.split() == ["retrodiction", project_version()]
