"""The real node ready for the product: the images built from worker_image/Dockerfile (and the dask-kubernetes
controller's) imported into its containerd, and cluster DNS running.

    with node_for_the_product() as ready:
        ready.node.control_plane.kubeconfig, ready.images.operator, ready.chart_values()

The node's base directory is <cache>/node: containerd's image store there outlives the node, so a warm start
imports nothing; everything else under it is removed on start and stop.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from retrodiction_harness.binaries import project_cache_dir
from retrodiction_harness.realnode.dns import deploy_cluster_dns
from retrodiction_harness.realnode.images import NodeImages, build_node_images
from retrodiction_harness.realnode.node import RealNode

NEEDED = ("containerd", "runc", "ctr", "iptables", "umoci", "gcc", "unshare", "go", "podman", "mmdebstrap")


def node_unavailable() -> str | None:
    """Why the real node cannot start here, or None."""
    if os.geteuid() != 0:
        return "the real node needs root"
    missing = [command for command in NEEDED if shutil.which(command) is None]
    if missing:
        return f"missing {missing}: run `make node-deps` (hack/node/packages.sh, as root)"
    return None


@dataclass(frozen=True)
class ProductNode:
    node: RealNode
    images: NodeImages
    timings: dict[str, float]

    def chart_values(self) -> list[str]:
        """`--set` values that make the chart run the images built here, its dask-kubernetes dependency included."""
        images = self.images
        controller, controller_tag = images.dask_controller.rsplit(":", 1)
        return [
            f"image.repository={images.operator.rsplit(':', 1)[0]}",
            f"image.tag={images.tag}",
            f"workerImage.repository={images.worker.rsplit(':', 1)[0]}",
            f"workerImage.tag={images.tag}",
            "dask-kubernetes-operator.enabled=true",
            f"dask-kubernetes-operator.image.name={controller}",
            f"dask-kubernetes-operator.image.tag={controller_tag}",
        ]


@contextmanager
def node_for_the_product(cache: Path | None = None) -> Iterator[ProductNode]:
    cache = project_cache_dir() if cache is None else cache
    timings: dict[str, float] = {}
    started = time.monotonic()
    images = build_node_images(cache / "node-images")
    timings["images"] = time.monotonic() - started
    node = RealNode(cache / "node")
    with node:
        timings["node"] = time.monotonic() - started - timings["images"]
        assert node.containerd is not None and node.control_plane is not None
        for name, archive in images.archives.items():
            node.containerd.ensure_image(archive, name)
        timings["import"] = time.monotonic() - started - timings["images"] - timings["node"]
        with node.control_plane.api_client() as api:
            deploy_cluster_dns(api, node.containerd, node.network.dns_service_ip)
        timings["dns"] = time.monotonic() - started - sum(timings.values())
        yield ProductNode(node, images, timings)
