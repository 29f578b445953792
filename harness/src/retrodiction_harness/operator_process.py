"""The operator under test, run as its own process (`retrodiction operator`), the way a Deployment runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from retrodiction_harness.cluster import Kube
from retrodiction_harness.crds import apply_project_crds
from retrodiction_harness.ports import free_ports

TEST_POLICY = json.dumps({"uriSchemes": ["builtin", "s3", "file"], "daskModes": ["kubernetes", "local", "address"]})


class OperatorProcess:
    """Starts the operator against a kubeconfig; `restart()` kills it hard (SIGKILL) and starts a new one."""

    def __init__(self, kubeconfig: Path, log_dir: Path, *, source: Path | None = None, **settings: str) -> None:
        self.kubeconfig = kubeconfig
        self.log_dir = log_dir
        # Another version's `operator/` folder to run instead of the installed package (an upgrade test).
        self.source = source
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.health_port, self.metrics_port = free_ports(2)
        self.starts = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            RETRODICTION_HEALTH_PORT=str(self.health_port),
            RETRODICTION_METRICS_PORT=str(self.metrics_port),
            RETRODICTION_STATUS_INTERVAL_SECONDS="1",
            # The local tier's data lives in files on this machine: an admin policy that opts in to `file`, as a
            # single-tenant install would. Tests of the default policy set their own.
            RETRODICTION_POLICY=TEST_POLICY,
        )
        env.pop("KUBERNETES_SERVICE_HOST", None)
        if self.source is not None:
            env["PYTHONPATH"] = str(self.source)
        env.update({f"RETRODICTION_{key.upper()}": value for key, value in self.settings.items()})
        return env

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"operator-{self.starts}.log"

    def start(self, timeout: float = 60.0) -> None:
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "retrodiction.cli", "operator", "--all-namespaces"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"operator not healthy within {timeout:.0f} s:\n{self.tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as reply:
            text: str = reply.read().decode()
            return text

    def peak_rss_bytes(self) -> int:
        """The operator's peak resident memory so far (VmHWM), for the record."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc status")

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def thread_dump(self) -> str:
        """Every thread's stack (the operator prints them on SIGUSR1), for a test that found it stuck."""
        if self.process is None or self.process.poll() is not None:
            return "(not running)"
        os.kill(self.process.pid, signal.SIGUSR1)
        time.sleep(1)
        return self.tail(200)

    def kill(self) -> None:
        """SIGKILL, as an OOM kill or a node loss would: no chance to clean up."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def running_operator(kube: Kube, workdir: Path, **settings: str) -> Iterator[OperatorProcess]:
    """The project's CRDs applied and the operator running with these RETRODICTION_* settings."""
    apply_project_crds(kube.api)
    with OperatorProcess(kube.kubeconfig, workdir, source=None, **settings) as process:
        yield process
