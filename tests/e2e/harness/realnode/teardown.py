"""Everything the real node leaves on the machine, found and removed, also after its test process was killed.

The node works under one base directory (<cache>/node). What its parts insist on putting elsewhere is listed
here, and before the node starts `MachineDirs.record` notes which of those places did not exist yet, in a file
under the base directory, so that a later run can remove exactly what a dead run made:
- /run/containerd (containerd 1.6's shim sockets and ctr's fifos), /var/lib/cni (the CNI result cache of
  containerd's CRI), /var/lib/kubelet (kubelet's device-plugin directory, a fixed path);
- cgroups `kubepods` (kubelet's pods) and `k8s.io` (containers started with ctr) in every v1 controller;
- mounts under the base directory (pod volumes, sandbox shm, network namespaces);
- processes whose command line names the base directory (kubelet, containerd, its shims) and every process in
  the node's cgroups (the pods' containers).
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

from tests.e2e.harness.realnode.containerd import CGROUP_ROOT, leftover_cgroups, remove_cgroup_tree

MACHINE_DIRS = (Path("/run/containerd"), Path("/var/lib/cni"), Path("/var/lib/kubelet"))
CGROUPS = ("kubepods", "k8s.io")
RECORD = "made-on-the-machine.json"


def record_machine_dirs(base: Path) -> None:
    """Note which of the machine-wide directories do not exist yet (kept from an earlier record)."""
    record = base / RECORD
    made = set(json.loads(record.read_text())) if record.exists() else set()
    made |= {str(folder) for folder in MACHINE_DIRS if not folder.exists()}
    base.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(sorted(made)))


def node_processes(base: Path) -> list[int]:
    """Processes of the node: naming its base directory, or in its cgroups."""
    me, marker = os.getpid(), str(base).encode()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if marker in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:
            continue
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
    record = base / RECORD
    if record.exists():
        found += [f"directory {folder}" for folder in json.loads(record.read_text()) if Path(folder).exists()]
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
    record = base / RECORD
    if record.exists():
        for folder in json.loads(record.read_text()):
            shutil.rmtree(folder, ignore_errors=True)
        record.unlink()
