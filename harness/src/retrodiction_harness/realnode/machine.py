"""What the machine looks like from the real node's point of view, to compare before and after the node ran.

Everything a node could leave on a shared machine, outside the project's cache directory: routes, policy rules,
links, iptables rules, the kernel settings kubelet, kube-proxy and the CNI plugins are known to write, mounts,
the cgroups of pods and containers, processes of the node's programs, and the fixed paths its parts use by
default. Two snapshots taken around a node's life must be equal.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from retrodiction_harness.realnode.containerd import CGROUP_ROOT
from retrodiction_harness.realnode.kubelet import SHADOWED_SYSCTLS

# Forwarding (the bridge gets its own, the machine's stays off), localnet routing (kube-proxy's NodePorts on
# loopback), br_netfilter's switches (when loaded), conntrack limits (kube-proxy), and kubelet's own tunables.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/default/forwarding",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
    *SHADOWED_SYSCTLS,
)
# Where containerd, runc, CNI, kubelet, podman and their tools put things when not told otherwise.
DEFAULT_PATHS = (
    "/run/containerd",
    "/var/lib/containerd",
    "/opt/containerd",
    "/etc/containerd",
    "/var/lib/cni",
    "/etc/cni",
    "/run/netns",
    "/var/run/netns",
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/etc/kubernetes",
    "/var/lib/containers",
    "/etc/containers",
    "/run/containers",
    "/run/runc",
    "/run/flannel",
)
PROGRAMS = frozenset(
    {
        "kubelet", "kube-proxy", "kube-scheduler", "containerd", "containerd-shim", "containerd-shim-runc-v2",
        "runc", "pause", "coredns", "podman", "buildah", "conmon",
    }
)  # fmt: skip
POD_CGROUPS = ("kubepods", "k8s.io", "libpod_parent")


def _out(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout


def _sysctls() -> dict[str, str]:
    found = {}
    for name in SYSCTLS:
        path = Path("/proc/sys") / name
        found[f"sysctl {name}"] = path.read_text().strip() if path.exists() else "(absent)"
    return found


def node_programs() -> list[str]:
    """Running processes of the node's programs, by name (kernel threads and this process excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in PROGRAMS or name.startswith("containerd-shim"):
            found.append(f"{name} ({entry.name})")
    return sorted(found)


def machine_state() -> dict[str, str]:
    state = _sysctls()
    state["routes"] = _out("ip", "-4", "route", "show", "table", "all")
    state["ipv6 routes"] = _out("ip", "-6", "route", "show", "table", "all")
    state["rules"] = _out("ip", "rule", "show")
    state["links"] = "\n".join(sorted(line.split(":")[1] for line in _out("ip", "-o", "link").splitlines()))
    for table in ("filter", "nat", "mangle", "raw"):
        state[f"iptables {table}"] = _out("iptables", "-w", "-t", table, "-S")
    mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
    state["mounts"] = "\n".join(sorted(line.split()[4] for line in mountinfo))
    state["cgroups"] = "\n".join(
        str(controller / name)
        for controller in sorted(CGROUP_ROOT.iterdir())
        for name in POD_CGROUPS
        if (controller / name).is_dir()
    )
    state["paths"] = "\n".join(path for path in DEFAULT_PATHS if Path(path).exists())
    state["processes"] = "\n".join(node_programs())
    return state


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """One line per changed part (its name and a short diff), for an assertion message."""
    changed = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, ""), after.get(key, "")
        if old != new:
            gone = sorted(set(old.splitlines()) - set(new.splitlines()))[:5]
            came = sorted(set(new.splitlines()) - set(old.splitlines()))[:5]
            changed.append(f"{key}: gone {gone} new {came}")
    return changed
