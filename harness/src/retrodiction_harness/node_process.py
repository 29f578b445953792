"""One container instance as a local process group.

A container's processes share its fate: when the main process ends, whatever it left behind in its process group
is killed, as a PID namespace's teardown would. Where util-linux `setpriv` exists each process also gets a
parent-death SIGKILL, so a stand-in killed outright still takes its pods' processes with it (the signal is tied to
the thread that started the process: the pod's worker thread, which outlives its containers).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_SETPRIV = shutil.which("setpriv")


def exit_code_of(returncode: int) -> int:
    """A Popen return code as a container runtime reports it: death by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ContainerProcess:
    """A started process group; `on_exit` is called (from a waiter thread) once its main process has ended."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        on_exit: Callable[[], None] = lambda: None,
    ) -> None:
        """Start it; raises OSError when the executable cannot be started (a runtime's StartError)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        resolved = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
        if resolved is None:
            raise FileNotFoundError(f'exec: "{argv[0]}": executable file not found in $PATH')
        wrapper = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []
        with log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                [*wrapper, resolved, *argv[1:]],
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self._popen.pid
        self.log_path = log_path
        self.started_at = time.time()
        self.finished_at: float | None = None
        self._exit_code: int | None = None
        self._ended = threading.Event()
        self._on_exit = on_exit
        threading.Thread(target=self._wait, name=f"wait-{self.pid}", daemon=True).start()

    def _wait(self) -> None:
        returncode = self._popen.wait()
        kill_group(self.pid, signal.SIGKILL)
        self.finished_at = time.time()
        self._exit_code = exit_code_of(returncode)
        self._ended.set()
        self._on_exit()

    @property
    def exit_code(self) -> int | None:
        return self._exit_code if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> bool:
        return self._ended.wait(timeout)

    def terminate(self, grace_seconds: float) -> int:
        """SIGTERM to the group, SIGKILL once the grace period is over; returns the exit code."""
        if not self._ended.is_set():
            kill_group(self.pid, signal.SIGTERM)
            if not self._ended.wait(max(grace_seconds, 0.0)):
                kill_group(self.pid, signal.SIGKILL)
                self._ended.wait()
        assert self._exit_code is not None
        return self._exit_code
