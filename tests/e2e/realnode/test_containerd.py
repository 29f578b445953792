"""The real node's container runtime on this machine: containerd with its configuration and state under the
project's cache, running the sandbox image built here, and leaving nothing behind when stopped."""

from __future__ import annotations

import time
from pathlib import Path

from retrodiction_harness.realnode.containerd import (
    RUN_DIR,
    SANDBOX_IMAGE,
    Containerd,
    ContainerdPaths,
    ctr,
    leftover_cgroups,
)
from retrodiction_harness.realnode.node import k8s_version
from retrodiction_harness.realnode.pause import build_pause_archive, pause_source


def test_containerd_runs_the_sandbox_image_built_here_and_leaves_nothing_outside_its_folder(
    tmp_path: Path, machine_unchanged: None
) -> None:
    run_dir_before = RUN_DIR.exists()
    archive = build_pause_archive(pause_source(k8s_version()), tmp_path / "images")
    paths = ContainerdPaths(tmp_path / "node")
    with Containerd(paths) as runtime:
        runtime.import_image(archive, SANDBOX_IMAGE)
        started = ctr(paths, "run", "-d", SANDBOX_IMAGE, "sandbox-probe")
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 10
        while "RUNNING" not in ctr(paths, "tasks", "ls").stdout and time.monotonic() < deadline:
            time.sleep(0.2)
        [pid] = [line.split()[1] for line in ctr(paths, "tasks", "ls").stdout.splitlines()[1:]]
        status = Path(f"/proc/{pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1] == "65535", "the pause image runs as its own user"
    assert RUN_DIR.exists() == run_dir_before
    assert leftover_cgroups("k8s.io") == []
    assert not Path("/opt/containerd").exists()
    assert not Path(f"/proc/{pid}").exists()
