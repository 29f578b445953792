"""The real node builds the product images with the release plan's arguments (hack/release/images.py): the same
build as the release's, at a fixed revision."""

from __future__ import annotations

import pytest
from hack.release.images import image_build
from hack.release.version import current

from retrodiction_harness.realnode.images import DRY_RUN_REVISION, github_outputs, release_build


def test_github_outputs_reads_plain_lines_and_heredoc_blocks() -> None:
    text = "target=worker\nbuild-args<<BUILD_ARGS\nA=1\nB=x=y\nBUILD_ARGS\nplatforms=linux/amd64\n"
    assert github_outputs(text) == {"target": "worker", "build-args": "A=1\nB=x=y", "platforms": "linux/amd64"}


@pytest.mark.parametrize("target", ["operator", "worker"])
def test_the_node_builds_what_the_release_plan_says_at_a_fixed_revision(target: str) -> None:
    build = release_build(target)
    plan = image_build(target, DRY_RUN_REVISION, build.build_args["SOURCE"])
    assert (build.target, build.dockerfile, build.build_args) == (target, "worker_image/Dockerfile", plan.build_args)
    assert build.build_args["VERSION"] == current()
    assert build.build_args["SOURCE"] == "https://github.com/retrodiction/retrodiction-operator"
