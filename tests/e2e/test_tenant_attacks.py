"""A tenant attacks the operator: everything a namespace's user controls, tried the way they would try it.

A tenant may create RetrodictionTrainings, pods, Secrets and ConfigMaps in their namespace. None of that may run
code in the operator, reach what the operator can reach, or take the operator down for everyone else. Each test
is one attack, and checks that it fails safely where it matters (the operator), whatever it does to the
tenant's own run.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from distributed.security import Security
from kubernetes import client

from retrodiction.api.children import child_labels, driver_report_name
from retrodiction.api.report import REPORT_KEY
from retrodiction.execution.clusters import connect
from retrodiction.identity import COMPONENT_CHECKPOINT, COMPONENT_LABEL, GROUP, VERSION
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import OperatorProcess
from retrodiction_harness.ports import free_ports
from retrodiction_harness.waiting import eventually
from tests.e2e.run_cluster import run_scheduler_client, scheduler_pod_ip
from tests.e2e.runs import (
    ON_DASKCLUSTER,
    PLURAL,
    custom,
    get_run,
    listed_items,
    needs_pod_addresses,
    training,
    wait_for_phase,
    wait_for_progress,
    weekly_co2_run,
)
from tests.e2e.tenant_servers import metadata_reply, recording_server

pytestmark = needs_pod_addresses
DASK_PODS = True
# The chart's default policy, with `address` opted in (one attack needs a tenant's scheduler) and room for the
# eleven runs of the never-answering-scheduler test in one namespace.
STARTUP_TIMEOUT = 20
OPERATOR_SETTINGS = {
    "policy": json.dumps({"daskModes": ["kubernetes", "local", "address"], "maxConcurrentRunsPerNamespace": 20}),
    "cluster_startup_timeout_seconds": str(STARTUP_TIMEOUT),
}
FINISHED = {"Succeeded", "Failed"}


def small_run(name: str, **changes: Any) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "variables": ["cpi"],
        "window": {"start": "2004-01-01T00:00:00Z", "end": "2008-01-01T00:00:00Z", "batchSizeDays": 365},
    }
    return training(name, **{**shape, **changes})


def create(kube: Kube, namespace: str, body: dict[str, Any]) -> None:
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def everything_the_operator_says(kube: Kube, namespace: str, operator: OperatorProcess) -> str:
    """Every status and Event in the namespace and the operator's whole log, as one text to search."""
    runs = listed_items(kube, namespace)
    events = client.CoreV1Api(kube.api).list_namespaced_event(namespace).items
    log = "\n".join(path.read_text(errors="replace") for path in sorted(operator.log_dir.glob("operator-*.log")))
    return "\n".join([json.dumps([run.get("status") for run in runs]), *(str(event.message) for event in events), log])


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


# --- a scheduler and a worker of the tenant's own, sending pickles -------------------------------------------------

_PAYLOAD = """
import os
from distributed.protocol import ToPickle

RECORD = os.environ["PAYLOAD_RECORD"]


class Payload:
    # Unpickling calls exec in the receiving process, which writes down its own PID: the proof of where it ran.
    def __init__(self, where):
        self.where = where

    def __reduce__(self):
        code = f"import os; open({RECORD!r}, 'a').write({self.where!r} + ' ' + str(os.getpid()) + chr(10))"
        return (exec, (code,))
"""

_SCHEDULER_PRELOAD = """
from payload import Payload, ToPickle


def dask_setup(scheduler):
    original = scheduler.handlers["identity"]

    def identity(*args, **kwargs):
        reply = original(*args, **kwargs)
        reply["note"] = ToPickle(Payload("scheduler-reply"))  # sent to every client on connect
        return reply

    scheduler.handlers["identity"] = identity
"""

_WORKER_PRELOAD = """
import retrodiction.execution.task as task
from payload import Payload


def crafted(batches):
    return Payload("batch-result")  # what a tenant's worker image sends back instead of batch results


task.run_batch_group = crafted
"""


@pytest.fixture
def tenant_cluster(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Dask scheduler and worker the tenant runs, whose replies carry pickled payloads."""
    code = tmp_path / "tenant-code"
    code.mkdir()
    for name, text in (
        ("payload.py", _PAYLOAD),
        ("evil_scheduler.py", _SCHEDULER_PRELOAD),
        ("evil_worker.py", _WORKER_PRELOAD),
    ):
        (code / name).write_text(textwrap.dedent(text))
    record = tmp_path / "payload-ran-in.txt"
    env = {**os.environ, "PYTHONPATH": str(code), "PAYLOAD_RECORD": str(record)}
    (port,) = free_ports(1)
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", "127.0.0.1:0", "--preload", "evil_scheduler"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--host", "127.0.0.1",
         "--preload", "evil_worker", "--no-dashboard"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield address, record
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def test_a_pickle_sent_by_a_tenant_scheduler_or_worker_never_runs_in_the_operator(
    kube: Kube, namespace: str, operator: OperatorProcess, tenant_cluster: tuple[str, Path]
) -> None:
    address, record = tenant_cluster
    create(kube, namespace, small_run("pickles", dask={"mode": "address", "address": address}))
    run = wait_for_phase(kube, namespace, "pickles", FINISHED, timeout=180)
    ran = [line.split() for line in record.read_text().splitlines()] if record.exists() else []
    # The attack was live: both payloads were unpickled, by the run's driver (tenant-side), which is where a
    # tenant's pickles belong.
    assert {where for where, _ in ran} == {"scheduler-reply", "batch-result"}, ran
    assert operator.process is not None
    assert str(operator.process.pid) not in {pid for _, pid in ran}
    # The batches that came back as something else failed the run; they were never merged.
    assert run["status"]["phase"] == "Failed" and run["status"]["reason"] == "BatchesFailed", run["status"]
    assert "not batch results" in run["status"]["message"]


# --- a client without the run's certificate ------------------------------------------------------------------------


def test_a_client_without_the_runs_certificate_can_neither_submit_to_nor_read_from_its_scheduler(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    create(kube, namespace, weekly_co2_run("guarded", dask=ON_DASKCLUSTER))
    wait_for_progress(kube, namespace, "guarded", at_least=20)
    host = scheduler_pod_ip(kube, namespace, "guarded")
    # Another tenant's pod: plain TCP, then TLS with a certificate of its own making.
    with pytest.raises((OSError, TimeoutError)):
        connect(f"tcp://{host}:8786", 5).close()
    with pytest.raises((OSError, TimeoutError)):
        connect(f"tls://{host}:8786", 5, security=Security.temporary()).close()
    # The run's own certificate (what its driver, scheduler and workers hold) is let in: the refusals above are
    # about the certificate, not about the address.
    with run_scheduler_client(kube, namespace, "guarded") as dask:
        assert dask.scheduler_info()["type"] == "Scheduler"
    run = wait_for_phase(kube, namespace, "guarded", FINISHED, timeout=300)
    assert run["status"]["phase"] == "Succeeded", run["status"]


# --- URIs that point at the operator's world -----------------------------------------------------------------------


def test_tenant_uris_are_refused_by_the_policy_and_never_opened_by_the_operator(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    marker = f"METADATA-{uuid.uuid4().hex}"
    with recording_server(metadata_reply(marker)) as metadata:
        url = f"http://127.0.0.1:{metadata.port}"
        refused: dict[str, dict[str, Any]] = {
            "passwd": {"uri": "file:///etc/passwd", "format": "csv", "timeColumn": "root"},
            "reference": {"uri": "reference://", "format": "csv", "storageOptions": {"fo": "/etc/passwd"}},
            "metadata": {"uri": f"{url}/latest/meta-data/iam/security-credentials/node.csv", "format": "csv"},
            "cached": {"uri": f"simplecache::{url}/data.csv", "format": "csv"},
            "dataurl": {"uri": "data:text/csv;base64,ZGF0ZSxjcGkKMjAwMC0wMS0wMSwx", "format": "csv"},
        }
        # Allowed by the policy (s3, with an endpoint option): the run's driver may try it, in the tenant's pod.
        endpoint = {
            "uri": "s3://bucket/data.csv",
            "format": "csv",
            "storageOptions": {"client_kwargs": {"endpoint_url": url}},
        }
        for name, data in {**refused, "endpoint": endpoint}.items():
            create(kube, namespace, small_run(name, data=data))
        for name in refused:
            status = wait_for_phase(kube, namespace, name, FINISHED, timeout=60)["status"]
            assert status["phase"] == "Failed" and status["reason"] == "PolicyViolation", (name, status)
            assert status["message"].startswith("spec.data."), (name, status["message"])
        status = wait_for_phase(kube, namespace, "endpoint", FINISHED, timeout=180)["status"]
        assert status["phase"] == "Failed", status
        assert operator.process is not None
        peers = list(metadata.peers)
    # Only the endpoint run's driver connected; the operator never did, and nothing connected for a refused run.
    assert peers, "the allowed run's driver did try its endpoint"
    assert None not in peers and operator.process.pid not in peers, peers
    said = everything_the_operator_says(kube, namespace, operator)
    assert marker not in said
    assert "root:x:0:0" not in said and "/bin/bash" not in said


# --- data a tenant makes large -------------------------------------------------------------------------------------


def gzip_bomb(limit: int) -> bytes:
    """About `limit` bytes of gzip that inflate to about a thousand times as much."""
    bomb = gzip.compress(b"\0" * (limit * 1000), compresslevel=9)
    return bomb[:limit]


def test_a_gzip_bomb_report_and_two_million_batches_leave_the_operators_memory_flat(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    assert operator.process is not None
    pid = operator.process.pid
    with recording_server(None) as silent:  # a scheduler that never answers: the run stays Provisioning
        create(
            kube, namespace, small_run("bombed", dask={"mode": "address", "address": f"tcp://127.0.0.1:{silent.port}"})
        )
        core = client.CoreV1Api(kube.api)

        def connecting() -> bool:
            try:
                report = core.read_namespaced_config_map(driver_report_name("bombed"), namespace)
            except client.exceptions.ApiException:
                return False
            return '"state":"Connecting"' in (report.data or {}).get(REPORT_KEY, "")

        # The driver has written its report and waits for a scheduler that never answers.
        eventually(connecting, "the run's driver to wait for its scheduler", timeout=120)
        run = get_run(kube, namespace, "bombed")
        before = rss_bytes(pid)
        meta = {"name": "bombed", "namespace": namespace, "uid": run["metadata"]["uid"]}
        bomb = base64.b64encode(gzip_bomb(600 * 1024)).decode()
        # The run's own driver report replaced with 900 KiB (a tenant owns the namespace and can), and a
        # gzip bomb labelled as the run's checkpoint.
        for name, labels, data in (
            (driver_report_name("bombed"), {}, {REPORT_KEY: "x" * (900 * 1024)}),
            ("bombed-ckpt-0000", {COMPONENT_LABEL: COMPONENT_CHECKPOINT}, {}),
        ):
            body = {
                "metadata": {
                    "name": name,
                    "labels": child_labels(meta, labels),
                    "ownerReferences": [
                        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RetrodictionTraining", "name": "bombed",
                         "uid": meta["uid"], "controller": True}
                    ],
                },
                "data": data,
                "binaryData": {"results.jsonl.gz": bomb} if not data else {},
            }  # fmt: skip
            try:
                core.create_namespaced_config_map(namespace, body)  # type: ignore[arg-type]  # the attack's raw dict
            except client.exceptions.ApiException as err:
                if err.status != 409:
                    raise
                core.replace_namespaced_config_map(name, namespace, body)  # type: ignore[arg-type]  # as above
        # Two million batches, by arithmetic: refused before anything is planned.
        huge = small_run(
            "huge",
            variables=[f"v{i}" for i in range(50)],
            variablesPerBatch=1,
            window={"start": "1900-01-01T00:00:00Z", "end": "2010-01-01T00:00:00Z", "batchSizeDays": 1},
        )
        create(kube, namespace, huge)
        status = wait_for_phase(kube, namespace, "huge", FINISHED, timeout=60)["status"]
        assert status["reason"] == "PolicyViolation", status
        days = (datetime(2010, 1, 1) - datetime(1900, 1, 1)).days
        expected = f"spec.window.batchSizeDays: the window and variables make up to {days * 50} batches"
        assert status["message"].startswith(expected) and days * 50 > 2_000_000
        assert "limit of 100000" in status["message"]
        eventually(lambda: 'why="too-large"' in operator.metrics(), "the operator to refuse the report", timeout=30)
        time.sleep(3)  # a few more passes over the bomb
        grown = rss_bytes(pid, "VmHWM") - before
    assert grown < 50 * 1024 * 1024, f"the operator's memory grew by {grown / 2**20:.1f} MiB"
    print(f"operator RSS {before / 2**20:.1f} MiB before, peak growth {grown / 2**20:.1f} MiB")


# --- a scheduler that never answers ---------------------------------------------------------------------------------


def test_a_never_answering_scheduler_fails_its_run_within_the_startup_timeout_while_ten_others_complete(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    with recording_server(None) as silent:
        began = time.monotonic()
        create(
            kube, namespace, small_run("stuck", dask={"mode": "address", "address": f"tcp://127.0.0.1:{silent.port}"})
        )
        others = [f"other-{i}" for i in range(10)]
        for name in others:
            create(kube, namespace, small_run(name, dask={"mode": "local", "workers": 1}))
        status = wait_for_phase(kube, namespace, "stuck", FINISHED, timeout=STARTUP_TIMEOUT + 120)["status"]
        took = time.monotonic() - began
        assert operator.process is not None
        assert operator.process.pid not in silent.peers  # the driver dialled it, never the operator
    assert status["phase"] == "Failed" and status["reason"] == "ClusterFailed", status
    assert f"did not answer within {STARTUP_TIMEOUT} s" in status["message"]
    assert took < STARTUP_TIMEOUT + 90, took
    for name in others:
        assert wait_for_phase(kube, namespace, name, FINISHED, timeout=300)["status"]["phase"] == "Succeeded"
