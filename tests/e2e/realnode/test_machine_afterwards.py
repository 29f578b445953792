"""After every real-node test (the conftest runs this module last): the machine is as the first of them found it.
No process of the node's programs, mount, pod cgroup, route, policy rule, link, iptables rule, changed kernel
setting or default path of containerd, CNI, kubelet or podman is left, and the cached node left nothing either."""

from __future__ import annotations

from retrodiction_harness.binaries import project_cache_dir
from retrodiction_harness.realnode.machine import differences, machine_state
from retrodiction_harness.realnode.node import RealNode


def test_the_machine_is_as_the_first_real_node_test_found_it(machine_before: dict[str, str]) -> None:
    assert differences(machine_before, machine_state()) == []
    assert RealNode(project_cache_dir() / "node").leftovers() == []
