"""One container of a pod: start, probes, exit, restart with back-off - the kubelet's per-container state machine.

`step()` is called from the pod's worker thread whenever something may have changed (a process ended, a probe or
a back-off is due); it never blocks longer than a probe or a termination grace period.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrodiction_harness.node_probes import ProbeTracker, run_probe
from retrodiction_harness.node_process import ContainerProcess, kill_group
from retrodiction_harness.node_status import ContainerView, Running, State, Terminated, Waiting

JsonObject = dict[str, Any]

NO_COMMAND = (
    "the node stand-in runs a container's command and args as a local process and cannot know the image's "
    "entrypoint: set `command`"
)
# Exit code a container runtime reports when it could not start the process at all.
START_ERROR_EXIT_CODE = 128


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: Mapping[str, str]
    cwd: Path


class NotStartableError(Exception):
    """The container cannot start yet; it stays Waiting with `reason` and is retried after `retry_after` s."""

    def __init__(self, reason: str, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


@dataclass
class Backoff:
    """CrashLoopBackOff delays: base, doubling up to cap; reset once a container has run for `reset_after` s."""

    base: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0
    crashes: int = field(default=0, init=False)

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= self.reset_after:
            self.crashes = 0
        delay = min(self.cap, self.base * 2.0**self.crashes)
        self.crashes += 1
        return delay


def should_restart(restart_policy: str, exit_code: int, init: bool) -> bool:
    if restart_policy == "Never":
        return False
    if init or restart_policy == "OnFailure":
        return exit_code != 0
    return True


@dataclass(frozen=True)
class PodSettings:
    """What every container of one pod shares: its restart policy, address, log folder and grace period, how a
    container's process is prepared, and whom to wake when one exits."""

    restart_policy: str
    pod_ip: str
    log_dir: Path
    grace_seconds: float
    prepare: Callable[[JsonObject], Launch]
    on_exit: Callable[[], None]


class Container:
    def __init__(self, spec: JsonObject, *, init: bool, pod: PodSettings, backoff: Backoff) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.restart_policy = pod.restart_policy
        self.pod_ip = pod.pod_ip
        self.log_dir = pod.log_dir
        self.grace_seconds = pod.grace_seconds
        self._prepare = pod.prepare
        self._on_exit = pod.on_exit
        self._backoff = backoff
        self.state: State = Waiting("ContainerCreating")
        self.last_state: Terminated | None = None
        self.restart_count = 0
        self.process: ContainerProcess | None = None
        self._launch: Launch | None = None
        self._starts = 0
        self._retry_at = 0.0
        self._probes: dict[str, ProbeTracker] = {}
        self._kill_message = ""

    # ------------------------------------------------------------------ queries

    @property
    def done(self) -> bool:
        """Terminated for good (it will not be restarted)."""
        return isinstance(self.state, Terminated)

    @property
    def succeeded(self) -> bool:
        return isinstance(self.state, Terminated) and self.state.exit_code == 0

    @property
    def started(self) -> bool:
        startup = self._probes.get("startup")
        return isinstance(self.state, Running) and (startup is None or startup.passing)

    @property
    def ready(self) -> bool:
        readiness = self._probes.get("readiness")
        return self.started and (readiness is None or readiness.passing)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def log_path(self, restart: int | None = None) -> Path:
        """Like /var/log/pods/<pod>/<container>/<restart>.log."""
        return self.log_dir / self.name / f"{self.restart_count if restart is None else restart}.log"

    def next_due(self) -> float | None:
        if self.process is not None:
            dues = [tracker.next_due for tracker in self._active_probes()]
            return min(dues) if dues else None
        if self.done:
            return None
        return self._retry_at

    def view(self) -> ContainerView:
        return ContainerView(
            name=self.name,
            image=str(self.spec.get("image") or ""),
            state=self.state,
            last_state=self.last_state,
            ready=self.ready,
            started=self.started,
            restart_count=self.restart_count,
            container_id=f"standin://{self.process.pid}" if self.process is not None else "",
        )

    # ------------------------------------------------------------------ transitions

    def step(self, now: float) -> None:
        if self.process is not None and self.process.exit_code is not None:
            self._exited(now)
        if self.process is None and not self.done and now >= self._retry_at:
            self._start(now)
        if self.process is not None:
            self._probe(now)
            if self.process.exit_code is not None:
                self._exited(now)

    def signal_stop(self) -> None:
        """SIGTERM without waiting, so that all of a pod's containers get their grace period at once."""
        if self.process is not None:
            kill_group(self.process.pid, signal.SIGTERM)

    def stop(self, grace_seconds: float) -> None:
        """Kill the running instance, if any (no restart follows: the pod is going away)."""
        if self.process is not None:
            exit_code = self.process.terminate(grace_seconds)
            self.state = self._terminated(self.process, exit_code)
            self.process = None

    def _start(self, now: float) -> None:
        try:
            launch = self._prepare(self.spec)
        except NotStartableError as error:
            self.state = Waiting(error.reason, error.message)
            self._retry_at = now + error.retry_after
            return
        if self._starts:
            self.restart_count += 1
        self._starts += 1
        if not launch.argv:
            self._start_failed(now, NO_COMMAND)
            return
        try:
            self.process = ContainerProcess(launch.argv, launch.env, launch.cwd, self.log_path(), self._on_exit)
        except OSError as error:
            self._start_failed(now, str(error))
            return
        self._launch = launch
        self._kill_message = ""
        self.state = Running(self.process.started_at)
        self._probes = {
            kind: ProbeTracker(self.spec[f"{kind}Probe"], kind, now)
            for kind in ("startup", "readiness", "liveness")
            if not self.init and self.spec.get(f"{kind}Probe")
        }

    def _start_failed(self, now: float, message: str) -> None:
        finished = time.time()
        self._after_exit(now, Terminated(START_ERROR_EXIT_CODE, "StartError", finished, finished, message), 0.0)

    def _active_probes(self) -> list[ProbeTracker]:
        startup = self._probes.get("startup")
        if startup is not None and not startup.passing:
            return [startup]
        return [tracker for kind, tracker in self._probes.items() if kind != "startup"]

    def _probe(self, now: float) -> None:
        assert self.process is not None and self._launch is not None
        for tracker in self._active_probes():
            if not tracker.due(now):
                continue
            tracker.record(run_probe(tracker.probe, self.spec, self.pod_ip, self._launch.env, self._launch.cwd), now)
            if tracker.failed_for_good:
                self._kill_message = (
                    f"Container {self.name} failed {tracker.kind} probe, will be restarted: {tracker.last_message}"
                )
                grace = tracker.probe.get("terminationGracePeriodSeconds", self.grace_seconds)
                self.process.terminate(float(grace))
                return

    def _terminated(self, process: ContainerProcess, exit_code: int) -> Terminated:
        return Terminated(
            exit_code=exit_code,
            reason="Completed" if exit_code == 0 else "Error",
            finished_at=process.finished_at or time.time(),
            started_at=process.started_at,
            message=self._kill_message,
            container_id=f"standin://{process.pid}",
        )

    def _exited(self, now: float) -> None:
        process = self.process
        assert process is not None and process.exit_code is not None
        self.process = None
        self._probes = {}
        ran_for = (process.finished_at or time.time()) - process.started_at
        self._after_exit(now, self._terminated(process, process.exit_code), ran_for)

    def _after_exit(self, now: float, terminated: Terminated, ran_for: float) -> None:
        if should_restart(self.restart_policy, terminated.exit_code, self.init):
            delay = self._backoff.next_delay(ran_for)
            self.last_state = terminated
            self.state = Waiting("CrashLoopBackOff", f"back-off {delay:g}s restarting failed container={self.name}")
            self._retry_at = now + delay
        else:
            self.state = terminated
