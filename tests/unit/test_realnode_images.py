"""The real node's image plumbing without a node: archive digests, the chart values for the images built here,
the dask-kubernetes controller's pinned version, and what the machine check reports."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from retrodiction_harness.realnode.containerd import archive_digest
from retrodiction_harness.realnode.images import NodeImages, locked_version
from retrodiction_harness.realnode.machine import differences
from retrodiction_harness.realnode.node import RealNode
from retrodiction_harness.realnode.product import ProductNode


def oci_archive(path: Path, member: str, manifests: list[dict[str, str]]) -> Path:
    data = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("member", ["index.json", "./index.json"], ids=["podman", "umoci-layout"])
def test_an_archives_digest_is_its_one_manifests_whichever_way_the_tar_names_the_index(
    tmp_path: Path, member: str
) -> None:
    archive = oci_archive(tmp_path / "image.tar", member, [{"digest": "sha256:abc"}])
    assert archive_digest(archive) == "sha256:abc"


def test_an_archive_with_two_images_or_none_is_refused(tmp_path: Path) -> None:
    two = oci_archive(tmp_path / "two.tar", "index.json", [{"digest": "sha256:a"}, {"digest": "sha256:b"}])
    with pytest.raises(RuntimeError, match="2 images"):
        archive_digest(two)
    none = oci_archive(tmp_path / "none.tar", "oci-layout", [])
    with pytest.raises(RuntimeError, match=r"no index\.json"):
        archive_digest(none)


def test_the_chart_is_told_to_run_the_images_built_here_and_the_dask_controller_at_the_locks_version(
    tmp_path: Path,
) -> None:
    images = NodeImages(
        operator="localhost/retrodiction-operator:dev-123",
        worker="localhost/retrodiction-worker:dev-123",
        dask_controller="localhost/dask-kubernetes-operator:2026.3.0",
        archives={},
    )
    values = dict(value.split("=", 1) for value in ProductNode(RealNode(tmp_path), images, {}).chart_values())
    assert values == {
        "image.repository": "localhost/retrodiction-operator",
        "image.tag": "dev-123",
        "workerImage.repository": "localhost/retrodiction-worker",
        "workerImage.tag": "dev-123",
        "dask-kubernetes-operator.enabled": "true",
        "dask-kubernetes-operator.image.name": "localhost/dask-kubernetes-operator",
        "dask-kubernetes-operator.image.tag": "2026.3.0",
    }


def test_the_locked_version_is_read_from_the_lock_and_a_missing_package_is_an_error(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("dask==2026.3.0\n    # via dask-kubernetes\ndask-kubernetes==2026.3.0\n    # via x\n")
    assert locked_version("dask-kubernetes", lock) == "2026.3.0"
    with pytest.raises(LookupError, match="kopf"):
        locked_version("kopf", lock)


def test_the_machine_check_names_each_changed_part_with_what_came_and_went() -> None:
    before = {"routes": "a\nb", "sysctl net/ipv4/ip_forward": "0", "mounts": "/"}
    after = {"routes": "a\nc", "sysctl net/ipv4/ip_forward": "1", "mounts": "/"}
    assert differences(before, after) == [
        "routes: gone ['b'] new ['c']",
        "sysctl net/ipv4/ip_forward: gone ['0'] new ['1']",
    ]
    assert differences(before, dict(before)) == []
