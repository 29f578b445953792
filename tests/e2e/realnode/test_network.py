"""The real node's network guard on this machine: a pod's packets reach the node and the pod and Service ranges,
and nothing else, even when the pod gives itself a default route; setup and teardown change nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retrodiction_harness.realnode.network import NodeNetwork
from retrodiction_harness.realnode.probe import probe_pod


@pytest.fixture
def network(machine_unchanged: None) -> Iterator[NodeNetwork]:
    net = NodeNetwork()
    net.up()
    try:
        yield net
    finally:
        net.down()
    assert net.leftovers() == []


def test_a_pod_reaches_the_node_but_nothing_outside_the_pod_and_service_ranges(network: NodeNetwork) -> None:
    with probe_pod(network, "10.213.0.200") as pod:
        assert pod.send(network.node_ip) is None
        assert pod.send(network.kubernetes_service_ip) is None  # routed into the bridge, never to the gateway
        # Without a default route, a pod cannot even try.
        assert "unreachable" in (pod.send("192.0.2.1") or "")
        assert network.guard_drops() == 0
        # A pod that gives itself one: the packets reach the node's bridge and stop there, counted.
        pod.add_default_route(network.node_ip)
        for outside in ("192.0.2.1", "8.8.8.8", "169.254.169.254"):
            assert pod.send(outside) is None
        assert network.guard_drops() == 3


def test_setting_up_after_a_run_that_died_cleans_what_it_left(network: NodeNetwork) -> None:
    # The fixture's network stands for the dead run's: a second `up` starts from a clean slate.
    again = NodeNetwork()
    again.up()
    assert again.guard_drops() == 0
