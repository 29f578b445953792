"""The node stand-in's probes: thresholds and schedule like the kubelet's, checks against the pod address."""

import http.server
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrodiction_harness.node_probes import ProbeResult, ProbeTracker, resolve_port, run_probe

OK, FAIL = ProbeResult(True), ProbeResult(False)


def test_readiness_needs_success_threshold_passes_and_failure_threshold_failures() -> None:
    tracker = ProbeTracker({"successThreshold": 2, "failureThreshold": 2, "periodSeconds": 5}, "readiness", 0.0)
    assert not tracker.passing
    tracker.record(OK, 0.0)
    assert not tracker.passing
    tracker.record(OK, 5.0)
    assert tracker.passing
    tracker.record(FAIL, 10.0)
    assert tracker.passing
    tracker.record(FAIL, 15.0)
    assert not tracker.passing


def test_liveness_starts_passing_and_fails_for_good_at_the_failure_threshold() -> None:
    tracker = ProbeTracker({"failureThreshold": 2}, "liveness", 0.0)
    assert tracker.passing
    tracker.record(FAIL, 0.0)
    assert not tracker.failed_for_good
    tracker.record(FAIL, 10.0)
    assert tracker.failed_for_good


def test_probes_wait_for_the_initial_delay_then_run_every_period() -> None:
    tracker = ProbeTracker({"initialDelaySeconds": 3, "periodSeconds": 2}, "readiness", 100.0)
    assert not tracker.due(102.9)
    assert tracker.due(103.0)
    tracker.record(OK, 103.0)
    assert (tracker.due(104.9), tracker.due(105.0)) == (False, True)


def test_named_ports_resolve_from_the_container_ports() -> None:
    container = {"name": "c", "ports": [{"name": "http-dashboard", "containerPort": 8787}]}
    assert resolve_port("http-dashboard", container) == 8787
    assert resolve_port(80, container) == 80
    with pytest.raises(ValueError, match="not declared"):
        resolve_port("nope", container)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 500)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_http_and_tcp_probes_check_the_pod_address(server: int, tmp_path: Path) -> None:
    container = {"name": "c", "ports": [{"name": "web", "containerPort": server}]}

    def probe(spec: dict[str, object]) -> bool:
        return run_probe(spec, container, "127.0.0.1", {}, tmp_path).ok

    assert probe({"httpGet": {"path": "/health", "port": "web"}})
    assert not probe({"httpGet": {"path": "/broken", "port": "web"}})
    assert probe({"tcpSocket": {"port": server}})
    # A loopback host given in the probe is dialled as written; nothing listens there.
    assert not probe({"tcpSocket": {"port": server, "host": "127.0.0.254"}})


def test_exec_probes_pass_on_exit_code_zero(tmp_path: Path) -> None:
    def probe(code: int) -> bool:
        spec = {"exec": {"command": [sys.executable, "-c", f"raise SystemExit({code})"]}}
        return run_probe(spec, {"name": "c"}, "127.0.0.1", {}, tmp_path).ok

    assert probe(0)
    assert not probe(1)
