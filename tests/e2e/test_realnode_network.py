"""The real node's network guard on this machine: a pod's packets reach the node and the pod and Service ranges,
and nothing else, even when the pod gives itself a default route; setup and teardown change nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import unavailable
from tests.e2e.harness.realnode.network import NodeNetwork
from tests.e2e.harness.realnode.probe import probe_pod

pytestmark = pytest.mark.realnode
MACHINE_WIDE = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.default.forwarding",
    "net.ipv4.conf.all.route_localnet",
)


def machine_state() -> dict[str, str]:
    """The machine's routes, rules, links, forwarding settings and iptables rules."""

    def out(*argv: str) -> str:
        return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout

    state = {name: out("sysctl", "-n", name).strip() for name in MACHINE_WIDE}
    state["routes"] = out("ip", "-4", "route", "show", "table", "all")
    state["rules"] = out("ip", "rule", "show")
    state["links"] = "\n".join(sorted(line.split(":")[1] for line in out("ip", "-o", "link").splitlines()))
    for table in ("filter", "nat", "mangle", "raw"):
        state[f"iptables {table}"] = out("iptables", "-w", "-t", table, "-S")
    return state


@pytest.fixture
def network() -> Iterator[NodeNetwork]:
    if os.geteuid() != 0:
        unavailable("the real node's network needs root")
    if shutil.which("iptables") is None:
        unavailable("iptables is missing: run `bash hack/node/packages.sh` (make node-deps) as root")
    before = machine_state()
    net = NodeNetwork()
    net.up()
    try:
        yield net
    finally:
        net.down()
    assert net.leftovers() == []
    assert machine_state() == before


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
