"""A network namespace wired to the node's bridge like a pod, to try the guard the way a pod's traffic would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrodiction_harness.realnode.network import NodeNetwork, run_command, try_command

# One UDP datagram: no answer is needed to see where it went.
_SEND = "import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'probe', (sys.argv[1], 9))"
_CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()"


class Probe:
    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, address: str) -> str | None:
        """None when the datagram left the namespace, else the error (e.g. the network is unreachable)."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", _SEND, address],
            capture_output=True,
            text=True,
            check=False,
        )
        return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1]

    def connect(self, address: str, port: int) -> str | None:
        """None when a TCP connection to address:port was accepted, else the error."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", _CONNECT, address, str(port)],
            capture_output=True,
            text=True,
            check=False,
        )
        return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1]

    def add_default_route(self, gateway: str) -> None:
        """What a pod with NET_ADMIN could do to itself: the guard must hold anyway."""
        run_command(["ip", "netns", "exec", self.name, "ip", "route", "add", "default", "via", gateway])


NETNS_DIR = Path("/run/netns")


def _remove_netns_dir() -> None:
    """`ip netns add` makes /run/netns (a bind mount of itself) when it is missing, and `ip netns del` leaves it:
    once its last namespace is gone, undo both, so the machine is as the probe found it."""
    if NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir()):
        try_command(run_command, ["umount", str(NETNS_DIR)])
        NETNS_DIR.rmdir()


@contextmanager
def probe_pod(network: NodeNetwork, address: str, name: str = "rtnode-probe") -> Iterator[Probe]:
    host, inside = f"{name[:9]}-h", f"{name[:9]}-p"
    cleanup = [["ip", "netns", "del", name], ["ip", "link", "del", host]]
    for argv in cleanup:
        try_command(run_command, argv)
    made_netns_dir = not NETNS_DIR.exists()
    try:
        for argv in (
            ["ip", "netns", "add", name],
            ["ip", "link", "add", host, "type", "veth", "peer", "name", inside],
            ["ip", "link", "set", inside, "netns", name],
            ["ip", "link", "set", host, "master", network.bridge, "up"],
            ["ip", "netns", "exec", name, "ip", "addr", "add", f"{address}/{network.prefix_length}", "dev", inside],
            ["ip", "netns", "exec", name, "ip", "link", "set", inside, "up"],
            ["ip", "netns", "exec", name, "ip", "route", "add", network.service_cidr, "via", network.node_ip],
        ):
            run_command(argv)
        yield Probe(name)
    finally:
        for argv in cleanup:
            try_command(run_command, argv)
        if made_netns_dir:
            _remove_netns_dir()
