"""The real node on this machine: a pod scheduled by kube-scheduler and run by kubelet, containerd and runc, on
the guarded bridge; and a machine left exactly as it was, also after the process that ran the node was killed."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from retrodiction_harness.realnode.containerd import SANDBOX_IMAGE
from retrodiction_harness.realnode.machine import differences, machine_state
from retrodiction_harness.realnode.node import RealNode
from retrodiction_harness.realnode.probe import probe_pod
from tests.e2e.runs import pod_status


@pytest.fixture(scope="module")
def real_node(machine_before: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealNode]:
    node = RealNode(tmp_path_factory.mktemp("node"))
    with node:
        yield node
    assert node.leftovers() == []
    assert differences(machine_before, machine_state()) == []


def test_a_pod_runs_on_the_real_node_as_its_images_user_with_an_address_of_the_pod_range(real_node: RealNode) -> None:
    assert real_node.control_plane is not None
    pod = {
        "metadata": {"name": "sandbox-image"},
        "spec": {
            "containers": [{"name": "pause", "image": SANDBOX_IMAGE, "imagePullPolicy": "Never"}],
            "terminationGracePeriodSeconds": 0,
        },
    }
    with real_node.control_plane.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", pod)  # type: ignore[arg-type]  # a raw pod, as sent
        deadline = time.monotonic() + 60
        while (status := pod_status(core.read_namespaced_pod("sandbox-image", "default"))).phase != "Running":
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        assert status.pod_ip is not None and status.container_statuses is not None, status
        assert ipaddress.ip_address(status.pod_ip) in ipaddress.ip_network(real_node.network.pod_cidr)
        assert status.host_ip == real_node.network.node_ip
        [container] = status.container_statuses
        assert container.ready and container.image_id
        core.delete_namespaced_pod("sandbox-image", "default", grace_period_seconds=0)
    assert real_node.network.guard_drops() == 0


def test_pods_and_the_machine_reach_the_api_server_through_its_service_and_nothing_leaves(real_node: RealNode) -> None:
    network = real_node.network
    with probe_pod(network, "10.213.0.201") as pod:
        deadline = time.monotonic() + 30
        # kube-proxy's first sync may still be on its way.
        while (refused := pod.connect(network.kubernetes_service_ip, 443)) is not None:
            assert time.monotonic() < deadline, refused
            time.sleep(0.5)
    with socket.create_connection((network.kubernetes_service_ip, 443), timeout=5):
        pass
    assert real_node.network.guard_drops() == 0
