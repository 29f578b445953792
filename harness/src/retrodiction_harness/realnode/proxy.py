"""kube-proxy for the real node (iptables mode), configured to change nothing machine-wide.

NodePorts open on the bridge address only (never on the machine's own interfaces), localhost NodePorts are off
(so route_localnet stays as it is), conntrack limits and timeouts are left alone (0), and every Service packet is
masqueraded, so replies between pods on one bridge come back through the node without br_netfilter's machine-wide
bridge-nf-call-iptables. Its iptables chains go with `cleanup` (kube-proxy's own --cleanup, then any KUBE- chain
that was not on the machine before the node started).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml

from retrodiction_harness.realnode.kubelet import NODE_NAME
from retrodiction_harness.realnode.network import NodeNetwork

TABLES = ("filter", "nat", "mangle", "raw")


def proxy_config(network: NodeNetwork, kubeconfig: Path, metrics_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": network.node_ip,
        "healthzBindAddress": "",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": network.pod_cidr,
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": [f"{network.node_ip}/32"],
        "iptables": {"masqueradeAll": True, "localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
            "udpTimeout": "0s",
            "udpStreamTimeout": "0s",
        },
    }


def write_proxy_config(path: Path, network: NodeNetwork, kubeconfig: Path, metrics_port: int) -> Path:
    path.write_text(yaml.safe_dump(proxy_config(network, kubeconfig, metrics_port), sort_keys=False))
    return path


def kube_chains() -> set[tuple[str, str]]:
    """(table, chain) of every KUBE- chain on the machine."""
    found: set[tuple[str, str]] = set()
    for table in TABLES:
        listing = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True, check=False)
        for line in listing.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "-N" and fields[1].startswith("KUBE-"):
                found.add((table, fields[1]))
    return found


def remove_chains(chains: set[tuple[str, str]]) -> None:
    """Unhook, flush and delete these chains (rules jumping to them first: a chain in use cannot go)."""
    for table in TABLES:
        names = {chain for chain_table, chain in chains if chain_table == table}
        if not names:
            continue
        listing = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True, check=False)
        for line in listing.stdout.splitlines():
            fields = shlex.split(line)  # comments are quoted and hold spaces
            if fields[:1] == ["-A"] and "-j" in fields and fields[fields.index("-j") + 1] in names:
                subprocess.run(["iptables", "-w", "-t", table, "-D", *fields[1:]], capture_output=True, check=False)
        for name in names:
            subprocess.run(["iptables", "-w", "-t", table, "-F", name], capture_output=True, check=False)
        for name in names:
            subprocess.run(["iptables", "-w", "-t", table, "-X", name], capture_output=True, check=False)
