"""The real-node tier: kubelet, containerd and runc on this machine, behind the network guard.

Every test here is marked `realnode` (`pytest -m realnode` runs them alone). They need root and the packages of
`make node-deps`; without them they are skipped, except in CI, where they fail.

One node at a time: the bridge, routing table and guard chain have fixed names, so the tests that start a node
of their own run first, then the module that shares one node with the product's images, and last the check that
the machine is exactly as it was before the first of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrodiction_harness.ci import unavailable
from retrodiction_harness.realnode.machine import differences, machine_state
from retrodiction_harness.realnode.product import node_unavailable

_HERE = Path(__file__).parent
LAST = "test_machine_afterwards.py"
_BEFORE = pytest.StashKey[dict[str, str]]()
# Lines about the product images' sizes (test_image_sizes.py), printed after the session.
IMAGE_SIZES = pytest.StashKey[list[str]]()


def require_node() -> None:
    reason = node_unavailable()
    if reason is not None:
        unavailable(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    positions = [index for index, item in enumerate(items) if _HERE in item.path.parents]
    ours = [items[index] for index in positions]
    for item in ours:
        item.add_marker(pytest.mark.realnode)
    ordered = sorted(ours, key=lambda item: item.path.name == LAST)  # stable: the rest keep their order
    for index, item in zip(positions, ordered, strict=True):
        items[index] = item


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(IMAGE_SIZES, [])
    if lines:
        terminalreporter.section("image sizes")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="package", autouse=True)
def machine_before(request: pytest.FixtureRequest) -> dict[str, str]:
    """The machine as the first real-node test found it; test_machine_afterwards compares."""
    require_node()
    state = request.config.stash.get(_BEFORE, None)
    if state is None:
        state = machine_state()
        request.config.stash[_BEFORE] = state
    return state


@pytest.fixture
def machine_unchanged(machine_before: dict[str, str], request: pytest.FixtureRequest) -> Iterator[None]:
    """For a test that starts and stops a node (or its network) of its own: the machine is as before once it is
    done. Under --cluster=node the session's node holds the bridge, so such a test cannot run."""
    if request.config.getoption("cluster") == "node":
        pytest.skip("--cluster=node: the session's real node holds the bridge; run this without it")
    yield
    assert differences(machine_before, machine_state()) == []


@pytest.fixture
def node_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh base directory for a node of the test's own."""
    return tmp_path_factory.mktemp("node")
