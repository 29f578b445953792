"""Long-running child processes that log to a file and can always be stopped, even by a dying parent.

Each process leads its own process group, so a stop signal reaches anything it spawned. Where util-linux
`setpriv` exists the process also gets a parent-death signal (SIGKILL): if the Python process is killed outright,
no atexit hook runs, yet the kernel still ends the children. The parent-death signal fires when the *thread*
that started the process ends, so start processes from a thread that lives as long as they should (the main one).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

_SETPRIV = shutil.which("setpriv")


class ManagedProcess:
    def __init__(self, name: str, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self._env = env
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    def start(self) -> None:
        argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *self.args] if _SETPRIV else self.args
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self._env,
            )

    def exit_code(self) -> int | None:
        """None while running (or never started); the exit code once it has ended."""
        return None if self._popen is None else self._popen.poll()

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM to the whole group, then SIGKILL if it outlives the grace period. Safe to call repeatedly."""
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        _signal_group(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(popen.pid, signal.SIGKILL)
            popen.wait(timeout=10)

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - max_chars))
                return log.read().decode(errors="replace")
        except OSError:
            return "(no log)"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
