"""Each image carries only what its processes run: measured on the images worker_image/Dockerfile builds here.

The bounds: the operator image (Kopf and the Kubernetes client on the Python base) at most half the worker
image (the driver and Dask with the data libraries), and the worker image at least a fifth smaller than the
1.12 GB it was when both images held one dependency set (a quarter before statsforecast joined it; the report
and command-line libraries and
dask-kubernetes included). Measured on this tier's base image (Debian's Python, about 250 MB), where that build
was 1.16 GB, so the bound is the stricter of the two. The sizes are printed in the session's summary.
"""

from __future__ import annotations

import pytest

from retrodiction_harness.binaries import project_cache_dir
from retrodiction_harness.realnode.images import NodeImages, build_node_images
from tests.e2e.realnode.conftest import IMAGE_SIZES

# The worker image before the images were split, in bytes: the figure the issue names, and this tier's own build of
# that Dockerfile (one venv of 96 packages in both images), measured with `podman image inspect`.
WORKER_BEFORE = 1_120_000_000
WORKER_BEFORE_HERE = 1_163_452_663
MB = 1_000_000


@pytest.fixture(scope="module")
def images() -> NodeImages:
    return build_node_images(project_cache_dir() / "node-images")


def test_both_images_are_measured(images: NodeImages, request: pytest.FixtureRequest) -> None:
    assert set(images.sizes) == {images.operator, images.worker}
    operator, worker = images.sizes[images.operator], images.sizes[images.worker]
    request.config.stash[IMAGE_SIZES] = [
        f"operator image {operator / MB:.0f} MB ({operator / worker:.0%} of the worker image)",
        f"worker image {worker / MB:.0f} MB ({worker / WORKER_BEFORE_HERE:.0%} of the "
        f"{WORKER_BEFORE_HERE / MB:.0f} MB it was on this base with one dependency set)",
    ]
    assert 0 < operator < worker


def test_the_operator_image_is_at_most_half_the_worker_image(images: NodeImages) -> None:
    assert images.sizes[images.operator] <= images.sizes[images.worker] / 2


def test_the_worker_image_is_a_fifth_smaller_than_with_one_dependency_set(images: NodeImages) -> None:
    # A quarter smaller when the images split (800 of 1,163 MB); statsforecast (with statsmodels), which runs the
    # custom models, then became a worker dependency and added 53 MB (853 MB); the HTML report the driver renders
    # brought matplotlib with fontTools and Pillow (about 95 MB), offset by pyarrow's Flight, its own S3
    # filesystem, headers and Cython sources (worker_image/Dockerfile): 885 MB.
    assert images.sizes[images.worker] <= 0.8 * min(WORKER_BEFORE, WORKER_BEFORE_HERE)
