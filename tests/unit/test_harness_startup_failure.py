"""A control plane that cannot start says why (its failing process's log) and leaves no process or temp dir.

The components are stand-in shell scripts, so this needs no binaries and no cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrodiction_harness.controlplane import ControlPlane, ControlPlaneError

LONG_RUNNING = "#!/bin/sh\necho started >&2\nexec sleep 60\n"


def _bin_dir(tmp_path: Path, apiserver_script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (
        ("etcd", LONG_RUNNING),
        ("kube-apiserver", apiserver_script),
        ("kube-controller-manager", LONG_RUNNING),
    ):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_failed_start_reports_the_log_tail_and_stops_what_was_started(tmp_path: Path) -> None:
    bin_dir = _bin_dir(tmp_path, "#!/bin/sh\necho 'boom: bad flag' >&2\nexit 3\n")
    control_plane = ControlPlane(bin_dir, start_timeout=20)
    with pytest.raises(ControlPlaneError, match=r"(?s)kube-apiserver exited with code 3.*boom: bad flag"):
        control_plane.start()
    assert control_plane.pids, "etcd and the API server were started"
    assert all(_gone(pid) for pid in control_plane.pids)
    assert not control_plane.workdir.exists()


def test_port_taken_at_bind_is_retried_with_new_ports(tmp_path: Path) -> None:
    bin_dir = _bin_dir(tmp_path, "#!/bin/sh\necho 'listen tcp 127.0.0.1:1: bind: address already in use' >&2\nexit 1\n")
    workdir = tmp_path / "work"
    with pytest.raises(ControlPlaneError, match="address already in use"):
        ControlPlane(bin_dir, workdir).start()
    attempts = (workdir / "logs" / "kube-apiserver.log").read_text().count("address already in use")
    assert attempts == 3


def test_hung_component_times_out_with_its_log(tmp_path: Path) -> None:
    bin_dir = _bin_dir(tmp_path, LONG_RUNNING)
    workdir = tmp_path / "work"
    control_plane = ControlPlane(bin_dir, workdir, start_timeout=1)
    with pytest.raises(ControlPlaneError, match=r"(?s)kube-apiserver not ready within 1 s.*started"):
        control_plane.start()
    assert all(_gone(pid) for pid in control_plane.pids)
    assert workdir.exists(), "a workdir the caller chose is the caller's to remove"
