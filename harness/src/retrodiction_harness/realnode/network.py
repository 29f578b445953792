"""The real node's network, and the guard that keeps every packet of it on this machine.

Pods sit on one Linux bridge. Before the bridge gets an address, a policy-routing rule sends everything that
arrives from it to a table of its own, whose default route is a blackhole: a packet from a pod can reach the bridge
(the node, the API server), other pods, and Service addresses (DNAT to pods), and nothing else. Forwarding is
turned on for the bridge only (`ip_forward` stays 0), pods get routes to the pod and Service ranges and no default
route (the CNI configuration), and the main table routes the Service range into the bridge, so a Service without
endpoints is never sent to the machine's default gateway. The machine's default route is never touched.

A mangle-table chain counts what the guard drops (a packet from the bridge to anywhere outside the two ranges);
tests assert it stays at zero. Every name is fixed (bridge, table, rule priority, chains), so a run that died can be
cleaned up by the next one (`down` is idempotent and removes whatever of this exists).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Run = Callable[[Sequence[str]], str]


def run_command(argv: Sequence[str]) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def try_command(run: Run, argv: Sequence[str]) -> bool:
    """For teardown: what is already gone is fine."""
    try:
        run(argv)
    except RuntimeError:
        return False
    return True


@dataclass(frozen=True)
class NodeNetwork:
    bridge: str = "rtnode0"
    pod_cidr: str = "10.213.0.0/24"
    service_cidr: str = "10.213.64.0/24"
    table: int = 2137
    priority: int = 2137
    guard_chain: str = "RTNODE-GUARD"
    run: Run = field(default=run_command, compare=False, repr=False)

    # -- addresses ------------------------------------------------------------------------------------------------

    @property
    def node_ip(self) -> str:
        """The bridge's address: the node's InternalIP, where the API server listens for pods."""
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    @property
    def prefix_length(self) -> int:
        return ipaddress.ip_network(self.pod_cidr).prefixlen

    @property
    def kubernetes_service_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    @property
    def dns_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[10])

    def conflicts(self) -> list[str]:
        """Addresses and routes of this machine (other than ours) that overlap the pod or Service range."""
        ours = [ipaddress.ip_network(self.pod_cidr), ipaddress.ip_network(self.service_cidr)]
        found: list[str] = []
        for link in json.loads(self.run(["ip", "-j", "-4", "addr", "show"]) or "[]"):
            if link.get("ifname") == self.bridge:
                continue
            for address in link.get("addr_info", ()):
                network = ipaddress.ip_network(f"{address['local']}/{address['prefixlen']}", strict=False)
                if any(net.overlaps(network) for net in ours):
                    found.append(f"address {network} on {link['ifname']}")
        for route in json.loads(self.run(["ip", "-j", "-4", "route", "show", "table", "all"]) or "[]"):
            if route.get("dev") == self.bridge or route.get("table") in (str(self.table), "local"):
                continue
            destination = route.get("dst", "")
            if destination in ("", "default") or route.get("type") in ("broadcast", "local"):
                continue
            network = ipaddress.ip_network(destination if "/" in destination else f"{destination}/32", strict=False)
            if any(net.overlaps(network) for net in ours):
                found.append(f"route {destination} via {route.get('dev', '?')}")
        return found

    # -- up and down ----------------------------------------------------------------------------------------------

    def up_commands(self) -> list[list[str]]:
        """In this order: the guard is complete before the bridge has an address or carries a packet."""
        bridge, table = self.bridge, str(self.table)
        chain = self.guard_chain
        return [
            ["ip", "link", "add", bridge, "type", "bridge"],
            ["sysctl", "-qw", f"net.ipv6.conf.{bridge}.disable_ipv6=1"],
            ["ip", "rule", "add", "iif", bridge, "lookup", table, "priority", str(self.priority)],
            ["ip", "route", "add", "blackhole", "default", "table", table],
            ["iptables", "-w", "-t", "mangle", "-N", chain],
            ["iptables", "-w", "-t", "mangle", "-A", chain, "-d", self.pod_cidr, "-j", "RETURN"],
            ["iptables", "-w", "-t", "mangle", "-A", chain, "-d", self.service_cidr, "-j", "RETURN"],
            ["iptables", "-w", "-t", "mangle", "-A", chain, "-j", "DROP"],
            ["iptables", "-w", "-t", "mangle", "-I", "PREROUTING", "1", "-i", bridge, "-j", chain],
            ["ip", "link", "set", bridge, "up"],
            ["ip", "route", "add", self.pod_cidr, "dev", bridge, "table", table],
            ["ip", "route", "add", self.service_cidr, "dev", bridge, "table", table],
            ["ip", "addr", "add", f"{self.node_ip}/{self.prefix_length}", "dev", bridge],
            ["ip", "route", "add", self.service_cidr, "dev", bridge],
            ["sysctl", "-qw", f"net.ipv4.conf.{bridge}.forwarding=1"],
        ]

    def down_commands(self) -> list[list[str]]:
        bridge, table, chain = self.bridge, str(self.table), self.guard_chain
        return [
            ["iptables", "-w", "-t", "mangle", "-D", "PREROUTING", "-i", bridge, "-j", chain],
            ["iptables", "-w", "-t", "mangle", "-F", chain],
            ["iptables", "-w", "-t", "mangle", "-X", chain],
            ["ip", "route", "del", self.service_cidr, "dev", bridge],
            ["ip", "link", "del", bridge],
            ["ip", "route", "flush", "table", table],
            ["ip", "rule", "del", "priority", str(self.priority)],
        ]

    def up(self) -> None:
        problems = self.conflicts()
        if problems:
            raise RuntimeError(f"the node's ranges {self.pod_cidr}, {self.service_cidr} are in use: {problems}")
        self.down()  # what a run that died left behind
        for argv in self.up_commands():
            self.run(argv)

    def down(self) -> None:
        for argv in self.down_commands():
            try_command(self.run, argv)

    # -- the guard's evidence -------------------------------------------------------------------------------------

    def guard_drops(self) -> int:
        """Packets from the bridge the guard dropped: anything a pod sent outside the pod and Service ranges."""
        listing = self.run(["iptables", "-w", "-t", "mangle", "-L", self.guard_chain, "-n", "-v", "-x"])
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2] == "DROP":
                return int(fields[0])
        raise RuntimeError(f"no DROP rule in chain {self.guard_chain}:\n{listing}")

    def leftovers(self) -> list[str]:
        """What of this network still exists (empty after `down`)."""
        found = []
        if try_command(self.run, ["ip", "link", "show", self.bridge]):
            found.append(f"link {self.bridge}")
        if f"lookup {self.table}" in self.run(["ip", "rule", "show"]):
            found.append(f"ip rule lookup {self.table}")
        if self.run(["ip", "route", "show", "table", str(self.table)]).strip():
            found.append(f"routes in table {self.table}")
        if try_command(self.run, ["iptables", "-w", "-t", "mangle", "-L", self.guard_chain, "-n"]):
            found.append(f"chain {self.guard_chain}")
        return found


def cni_config(network: NodeNetwork, state_dir: Path) -> dict[str, object]:
    """The bridge plugin without gateway or masquerade, host-local IPAM with routes to our two ranges only (no
    default route in a pod). containerd sets up each pod's loopback itself."""
    return {
        "cniVersion": "0.4.0",
        "name": "rtnode",
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                # isGateway would turn on forwarding machine-wide; the bridge has its address already.
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(state_dir / "ipam"),
                    "ranges": [[{"subnet": network.pod_cidr, "gateway": network.node_ip}]],
                    "routes": [
                        {"dst": network.service_cidr, "gw": network.node_ip},
                    ],
                },
            },
        ],
    }


def commands_text(commands: Iterable[Sequence[str]]) -> str:
    return "\n".join(" ".join(argv) for argv in commands)
