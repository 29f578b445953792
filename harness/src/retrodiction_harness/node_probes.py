"""Container probes (readiness, liveness, startup) as a kubelet runs them, against the pod's own address.

`ProbeTracker` keeps the schedule and the threshold arithmetic (pure); `run_probe` performs one check.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrodiction_harness.node_api import is_loopback_host

JsonObject = dict[str, Any]

# Probes run on the pod's worker thread: a probe that hangs for its full timeoutSeconds (the Dask scheduler's
# readiness probe asks for 300 s) would delay everything else that pod's worker does, so waits are capped.
MAX_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    message: str = ""


class ProbeTracker:
    """Schedule and state of one probe of one container instance (times are time.monotonic() seconds)."""

    def __init__(self, probe: JsonObject, kind: str, started: float) -> None:
        self.probe = probe
        self.kind = kind
        self.period = max(float(probe.get("periodSeconds") or 10), 0.1)
        self.success_threshold = int(probe.get("successThreshold") or 1)
        self.failure_threshold = int(probe.get("failureThreshold") or 3)
        self.next_due = started + float(probe.get("initialDelaySeconds") or 0)
        # Readiness and startup start out failed, liveness passed (as in the kubelet's results cache).
        self.passing = kind == "liveness"
        self.successes = 0
        self.failures = 0
        self.last_message = ""

    def due(self, now: float) -> bool:
        return now >= self.next_due

    def record(self, result: ProbeResult, now: float) -> None:
        self.next_due = now + self.period
        self.last_message = result.message
        if result.ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.passing = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= self.failure_threshold:
                self.passing = False

    @property
    def failed_for_good(self) -> bool:
        """Liveness and startup probes past their failure threshold: the container must be killed."""
        return self.kind in ("liveness", "startup") and self.failures >= self.failure_threshold


def resolve_port(port: int | str, container: JsonObject) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"named port {port!r} is not declared by container {container.get('name')!r}")


def _timeout(probe: JsonObject) -> float:
    return min(float(probe.get("timeoutSeconds") or 1), MAX_PROBE_TIMEOUT)


def _host(action: JsonObject, pod_ip: str) -> str:
    # Only a loopback address literal is dialled as written: any other host would leave this machine, and
    # "localhost" inside a pod means the pod itself.
    host = str(action.get("host") or "")
    return host if host and host != "localhost" and is_loopback_host(host) else pod_ip


def http_probe(action: JsonObject, container: JsonObject, pod_ip: str, timeout: float) -> ProbeResult:
    port = resolve_port(action["port"], container)
    host = _host(action, pod_ip)
    connection: http.client.HTTPConnection
    if str(action.get("scheme", "HTTP")).upper() == "HTTPS":
        # As the kubelet does, HTTPS probes do not verify the certificate.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "kube-probe/1.34", "Accept": "*/*"}
    headers.update({h["name"]: h["value"] for h in action.get("httpHeaders") or []})
    try:
        connection.request("GET", action.get("path") or "/", headers=headers)
        status = connection.getresponse().status
    except OSError as error:
        return ProbeResult(False, f"Get http://{host}:{port}{action.get('path') or '/'}: {error}")
    finally:
        connection.close()
    # The kubelet counts 2xx and 3xx as success.
    return ProbeResult(200 <= status < 400, f"HTTP probe status {status}")


def tcp_probe(action: JsonObject, container: JsonObject, pod_ip: str, timeout: float) -> ProbeResult:
    port = resolve_port(action["port"], container)
    host = _host(action, pod_ip)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult(True)
    except OSError as error:
        return ProbeResult(False, f"dial tcp {host}:{port}: {error}")


def exec_probe(action: JsonObject, env: Mapping[str, str], cwd: Path, timeout: float) -> ProbeResult:
    command = [str(part) for part in action.get("command") or []]
    if not command:
        return ProbeResult(False, "exec probe without a command")
    try:
        completed = subprocess.run(
            command,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"command timed out after {timeout:g}s")
    except OSError as error:
        return ProbeResult(False, f"exec failed: {error}")
    output = (completed.stdout + completed.stderr).decode(errors="replace").strip()
    return ProbeResult(completed.returncode == 0, output[-500:])


def run_probe(probe: JsonObject, container: JsonObject, pod_ip: str, env: Mapping[str, str], cwd: Path) -> ProbeResult:
    timeout = _timeout(probe)
    try:
        if "httpGet" in probe:
            return http_probe(probe["httpGet"], container, pod_ip, timeout)
        if "tcpSocket" in probe:
            return tcp_probe(probe["tcpSocket"], container, pod_ip, timeout)
        if "exec" in probe:
            return exec_probe(probe["exec"], env, cwd, timeout)
    except ValueError as error:
        return ProbeResult(False, str(error))
    return ProbeResult(False, f"unsupported probe handler {sorted(set(probe) & {'grpc'}) or sorted(probe)}")
