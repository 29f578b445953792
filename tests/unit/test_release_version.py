"""One version source (pyproject.toml) and the places it is stamped into (hack/release/version.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from hack.release.version import (
    CHART_YAML,
    PYPROJECT,
    REPO,
    VersionError,
    check,
    current,
    disagreements,
    stamp,
    stamped,
)

import retrodiction
from retrodiction.controller.settings import OperatorSettings

DOCKERFILE = REPO / "worker_image" / "Dockerfile"


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    for relative in (PYPROJECT, CHART_YAML):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, tmp_path / relative)
    return tmp_path


def test_every_place_holds_the_source_version() -> None:
    assert disagreements() == [], "run `make version VERSION=$(python -m hack.release.version)`"
    assert len(stamped()) == 3


def test_the_installed_package_and_the_cli_report_the_source_version() -> None:
    assert metadata.version("retrodiction-operator") == current(), "the install is stale: run `make install`"
    assert retrodiction.__version__ == current()
    cli = Path(sys.executable).with_name("retrodiction")
    result = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["retrodiction", current()]


def test_the_operators_default_worker_image_is_the_release_of_the_same_version() -> None:
    default = OperatorSettings.model_fields["worker_image"].default
    assert default == f"ghcr.io/retrodiction/retrodiction-worker:{current()}"


def test_the_dockerfile_labels_images_with_the_version_build_argument() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG VERSION=", text, re.MULTILINE)
    assert 'org.opencontainers.image.version="${VERSION}"' in text


def test_stamp_writes_every_place_and_leaves_the_rest_of_each_file(repo_copy: Path) -> None:
    before = {relative: (repo_copy / relative).read_text().splitlines() for relative in (PYPROJECT, CHART_YAML)}
    stamp("7.8.9", repo_copy)
    assert current(repo_copy) == "7.8.9"
    assert disagreements(repo_copy) == []
    for relative, lines in before.items():
        after = (repo_copy / relative).read_text().splitlines()
        changed = [(old, new) for old, new in zip(lines, after, strict=True) if old != new]
        assert len(changed) == (1 if relative == PYPROJECT else 2), changed
        assert all("7.8.9" in new for _, new in changed)


def test_check_names_each_place_that_disagrees(repo_copy: Path) -> None:
    chart = repo_copy / CHART_YAML
    chart.write_text(re.sub(r'^appVersion: ".*"', 'appVersion: "0.0.9"', chart.read_text(), flags=re.MULTILINE))
    problems = check(repo_copy)
    assert len(problems) == 1
    assert "Chart.yaml:appVersion" in problems[0]
    assert "'0.0.9'" in problems[0]


@pytest.mark.parametrize(
    ("tag", "accepted"),
    [("v{v}", True), ("{v}", False), ("v9.9.9", False), ("v{v}-rc.1", False), ("release-{v}", False)],
)
def test_a_release_tag_must_be_v_and_the_source_version(repo_copy: Path, tag: str, accepted: bool) -> None:
    problems = check(repo_copy, tag=tag.format(v=current(repo_copy)))
    assert (problems == []) is accepted, problems


@pytest.mark.parametrize("version", ["1.0.0rc1", "1.0.0-rc.1", "01.2.3", "1.2", "v1.2.3", "1.2.3 "])
def test_only_major_minor_patch_versions_are_stamped(repo_copy: Path, version: str) -> None:
    before = (repo_copy / PYPROJECT).read_text()
    with pytest.raises(VersionError):
        stamp(version, repo_copy)
    assert (repo_copy / PYPROJECT).read_text() == before
