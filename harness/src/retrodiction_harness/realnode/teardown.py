"""Everything the real node leaves on the machine, found and removed, also after its test process was killed.

The node works under one base directory (<cache>/node). What its parts insist on putting elsewhere is listed
here, and before the node starts `record_machine` notes which of those places did not exist yet, in a file
under the base directory, so that a later run can remove exactly what a dead run made:
- /run/containerd (containerd 1.6's shim sockets and ctr's fifos), /var/lib/cni (the CNI result cache of
  containerd's CRI), /var/lib/kubelet (kubelet's device-plugin directory, a fixed path), /var/log/containers
  (kubelet's links to container logs, a fixed path it makes at start whatever podLogsDir says);
- cgroups `kubepods` (kubelet's pods) and `k8s.io` (containers started with ctr) in every v1 controller;
- mounts under the base directory (pod volumes, sandbox shm, network namespaces);
- processes whose command line names the base directory (kubelet, containerd, its shims) and every process in
  the node's cgroups (the pods' containers);
- iptables chains named KUBE- (kube-proxy's, kubelet's) that were not on the machine before.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from retrodiction_harness.realnode.containerd import CGROUP_ROOT, leftover_cgroups, processes_naming, remove_cgroup_tree
from retrodiction_harness.realnode.proxy import kube_chains, remove_chains

MACHINE_DIRS = (
    Path("/run/containerd"),
    Path("/var/lib/cni"),
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),
)
CGROUPS = ("kubepods", "k8s.io")
RECORD = "made-on-the-machine.json"


def _read_record(base: Path) -> dict[str, Any]:
    record = base / RECORD
    found: dict[str, Any] = json.loads(record.read_text()) if record.exists() else {"dirs": [], "chains": None}
    return found


def record_machine(base: Path) -> None:
    """Note which machine-wide directories do not exist yet, and which KUBE- iptables chains do (an earlier
    record of a dead run is kept: it saw the machine before that run)."""
    record = _read_record(base)
    made = set(record["dirs"]) | {str(folder) for folder in MACHINE_DIRS if not folder.exists()}
    chains = record["chains"] if record["chains"] is not None else sorted(map(list, kube_chains()))
    base.mkdir(parents=True, exist_ok=True)
    (base / RECORD).write_text(json.dumps({"dirs": sorted(made), "chains": chains}))


def _new_chains(base: Path) -> set[tuple[str, str]]:
    kept = _read_record(base)["chains"] or []
    return kube_chains() - {(table, chain) for table, chain in kept}


def node_processes(base: Path) -> list[int]:
    """Processes of the node: naming its base directory, or in its cgroups."""
    found = set(processes_naming(f"{base}/".encode()))  # the slash: not a sibling directory such as node10
    for name in CGROUPS:
        tree = CGROUP_ROOT / "pids" / name
        if tree.is_dir():
            for procs in tree.rglob("cgroup.procs"):
                found |= {int(pid) for pid in procs.read_text().split()}
    return sorted(found)


def node_mounts(base: Path) -> list[str]:
    prefix = str(base.resolve())
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return sorted({m for m in mounts if m == prefix or m.startswith(prefix + "/")}, key=len, reverse=True)


def leftovers(base: Path) -> list[str]:
    """What of the node is still on the machine (the network has its own check)."""
    found = [f"process {pid}" for pid in node_processes(base)]
    found += [f"mount {mount}" for mount in node_mounts(base)]
    for name in CGROUPS:
        found += [f"cgroup {path}" for path in leftover_cgroups(name)]
    found += [f"directory {folder}" for folder in _read_record(base)["dirs"] if Path(folder).exists()]
    found += [f"iptables chain {table}/{chain}" for table, chain in sorted(_new_chains(base))]
    return found


def clean(base: Path) -> None:
    """Remove everything the node (this run's or a dead one's) left; safe to call when nothing is there."""
    for _ in range(3):
        pids = node_processes(base)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    for mount in node_mounts(base):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    for name in CGROUPS:
        for _ in range(10):
            try:
                remove_cgroup_tree(name)
                break
            except OSError:  # a process is still leaving it
                time.sleep(0.3)
    remove_chains(_new_chains(base))
    _remove_log_links(base)
    for folder in _read_record(base)["dirs"]:
        shutil.rmtree(folder, ignore_errors=True)
    (base / RECORD).unlink(missing_ok=True)


def _remove_log_links(base: Path) -> None:
    """kubelet's links in /var/log/containers to the logs of this node's pods (under `base`), which it leaves
    there even when the folder was on the machine before and so stays."""
    folder = Path("/var/log/containers")
    if not folder.is_dir():
        return
    for link in folder.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and Path(os.readlink(link)).is_relative_to(base):
                link.unlink()
