"""A stand-in container runs its command as a process group, restarts it by policy and reports why it stopped."""

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from retrodiction_harness.node_container import Backoff, Container, Launch, NotStartableError, PodSettings
from retrodiction_harness.node_status import Running, Terminated, Waiting

ENV = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}


def make(tmp_path: Path, spec: dict[str, Any], policy: str = "Always", prepare: Any = None) -> Container:
    wake = threading.Event()

    def default_prepare(container: dict[str, Any]) -> Launch:
        return Launch(list(container.get("command") or []), ENV, tmp_path)

    pod = PodSettings(
        restart_policy=policy,
        pod_ip="127.0.0.1",
        log_dir=tmp_path / "logs",
        grace_seconds=5.0,
        prepare=prepare or default_prepare,
        on_exit=wake.set,
    )
    container = Container({"name": "c", **spec}, init=False, pod=pod, backoff=Backoff(base=0.2, cap=1.0))
    container.wake = wake  # type: ignore[attr-defined]
    return container


def run_until(container: Container, done: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"container stuck in {container.state}"
        container.step(time.monotonic())
        container.wake.wait(0.05)  # type: ignore[attr-defined]
        container.wake.clear()  # type: ignore[attr-defined]


def python(code: str) -> list[str]:
    return ["python", "-c", code]


def test_a_finished_container_with_restart_policy_never_stays_terminated(tmp_path: Path) -> None:
    container = make(tmp_path, {"command": python("print('hello')")}, policy="Never")
    run_until(container, lambda: container.done)
    assert isinstance(container.state, Terminated)
    assert (container.state.exit_code, container.state.reason) == (0, "Completed")
    assert container.log_path(0).read_text() == "hello\n"


def test_a_crashing_container_backs_off_and_restarts(tmp_path: Path) -> None:
    container = make(tmp_path, {"command": python("raise SystemExit(3)")})
    run_until(container, lambda: isinstance(container.state, Waiting) and container.state.reason == "CrashLoopBackOff")
    assert container.last_state is not None and container.last_state.exit_code == 3
    run_until(container, lambda: container.restart_count == 1)
    assert container.log_path(1).exists()


def test_without_a_command_the_container_fails_to_start_with_the_reason(tmp_path: Path) -> None:
    container = make(tmp_path, {"args": ["dask-scheduler"]}, policy="Never")
    container.step(time.monotonic())
    assert isinstance(container.state, Terminated)
    assert container.state.reason == "StartError"
    assert "entrypoint" in container.state.message


def test_an_unknown_executable_is_a_start_error(tmp_path: Path) -> None:
    container = make(tmp_path, {"command": ["no-such-program-here"]}, policy="Never")
    container.step(time.monotonic())
    assert isinstance(container.state, Terminated)
    assert "executable file not found" in container.state.message


def test_a_container_that_cannot_start_yet_waits_with_the_reason(tmp_path: Path) -> None:
    def prepare(spec: dict[str, Any]) -> Launch:
        raise NotStartableError("ServiceNotReady", "no ready endpoint yet for Service sched.ns")

    container = make(tmp_path, {"command": ["true"]}, prepare=prepare)
    container.step(time.monotonic())
    assert container.state == Waiting("ServiceNotReady", "no ready endpoint yet for Service sched.ns")
    assert container.restart_count == 0


def test_stopping_kills_the_whole_process_group(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(child_pid_file)!r}, 'w').write(str(p.pid)); "
        "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    )
    container = make(tmp_path, {"command": python(code)})
    container.step(time.monotonic())
    assert isinstance(container.state, Running)
    deadline = time.monotonic() + 20
    while not child_pid_file.exists() or not child_pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(child_pid_file.read_text())
    container.stop(grace_seconds=0.5)
    assert isinstance(container.state, Terminated)
    assert container.state.exit_code == 137  # ignored SIGTERM, so SIGKILL after the grace period
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, "the container's child process survived"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; only its parent (gone) could reap it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("policy", "code", "restarts"), [("OnFailure", 0, False), ("OnFailure", 1, True)])
def test_on_failure_restarts_only_failed_containers(tmp_path: Path, policy: str, code: int, restarts: bool) -> None:
    container = make(tmp_path, {"command": python(f"raise SystemExit({code})")}, policy=policy)
    run_until(container, lambda: container.done or (isinstance(container.state, Waiting) and container.last_state))
    assert container.done is not restarts
