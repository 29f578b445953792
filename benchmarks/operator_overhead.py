"""What the operator adds to a run, and what it costs, side by side in one run of the script.

The script starts a Dask scheduler and 2 single-threaded worker processes (`dask scheduler`, `dask worker`), the
local control plane of the e2e tests with its node stand-in (each run's driver pod runs as a process), and the
operator (`retrodiction operator`, its own process). Every run uses spec.dask.mode=address on that one cluster, so
the operator's runs and the baseline compute on the same workers, and neither shares a process with the
scheduler (a client beside the scheduler in one process competes with it for the GIL).

1. Operator overhead per run: from `create` to the driver Job existing (the operator's reaction), plus from the
   driver's final report to the watch event that says Succeeded (the operator's follow-up). The pod start between
   them is the Job controller's and the node's. Target: under 2 s.
2. Driver against the CLI: the driver's own run time (its first report to its last) against the same command
   run directly, `retrodiction train FILE --scheduler ADDRESS`, called in-process (neither counts interpreter
   start-up). The two kinds of run alternate after one warm-up each; best of --repeats. Target: within 10%.
   Two run sizes: the driver's fixed costs (its reports, checkpoint and summary ConfigMaps) weigh most on the
   short one. The operator and the drivers run with their default 5 s status interval.
3. Operator memory: its peak RSS while 10 runs of 5,000 one-day batches each run at once. Target: under 200 MiB.

    python -m benchmarks.operator_overhead [--repeats 5] [--skip-memory]   # from the repository root
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3
import yaml
from distributed import Client
from kubernetes import client, watch

from retrodiction.api.children import driver_job_name, driver_report_name
from retrodiction.api.report import REPORT_KEY
from retrodiction.cli import main as cli
from retrodiction.data import make_random_walks, write_dataset
from retrodiction.identity import GROUP, VERSION
from retrodiction_harness.binaries import ensure_bin_dir
from retrodiction_harness.cluster import create_namespace
from retrodiction_harness.controlplane import ControlPlane
from retrodiction_harness.crds import apply_project_crds
from retrodiction_harness.node import NodeStandIn
from retrodiction_harness.operator_process import OperatorProcess

PLURAL = "retrodictiontrainings"
DASK = str(Path(sys.executable).with_name("dask"))


@contextmanager
def dask_cluster(folder: Path) -> Iterator[str]:
    """A scheduler and two worker processes of one thread each, as their own processes; yields the address."""
    scheduler_file = folder / "scheduler.json"
    scheduler = subprocess.Popen(
        [
            DASK,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            ":0",
            "--scheduler-file",
            str(scheduler_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or scheduler.poll() is not None:
                raise SystemExit("the Dask scheduler did not start")
            time.sleep(0.2)
        workers = subprocess.Popen(
            [
                DASK,
                "worker",
                "--scheduler-file",
                str(scheduler_file),
                "--nworkers",
                "2",
                "--nthreads",
                "1",
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        address = json.loads(scheduler_file.read_text())["address"]
        with Client(address) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in (workers, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def co2_spec(batch_days: int) -> dict[str, Any]:
    """The bundled weekly CO2 series, 1970-2001, one slice of `batch_days` per batch (30: 389 batches, 7: 1,665)."""
    return {
        "variables": ["co2"],
        "window": {"start": "1970-01-01T00:00:00Z", "end": "2001-12-01T00:00:00Z", "batchSizeDays": batch_days},
        "data": {"uri": "builtin://co2"},
        "retrodiction": {"horizons": [1, 4, 13], "seasonLength": 52, "windowLength": 13},
    }


# A short run, where the fixed costs of a run show most, and a longer one, closer to what a run is for.
SIZES = (30, 7)


def manifest(name: str, address: str, spec: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(spec)
    body["dask"] = {"mode": "address", "address": address}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RetrodictionTraining",
        "metadata": {"name": name},
        "spec": body,
    }


def through_cli(address: str, folder: Path, index: int, spec: dict[str, Any]) -> float:
    path = folder / f"cli-{index}.yaml"
    path.write_text(yaml.safe_dump(manifest(f"cli-{index}", address, spec)))
    began = time.perf_counter()
    code = cli(["train", str(path), "--scheduler", address, "--quiet", "--output", str(folder / f"cli-{index}.json")])
    elapsed = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"the CLI run failed with exit code {code}")
    return elapsed


def _report_times(core: client.CoreV1Api, namespace: str, run: str) -> tuple[float, float]:
    """When the run's driver began, and when it wrote its last report (the driver's own clock)."""
    data = core.read_namespaced_config_map(driver_report_name(run), namespace).data or {}
    report = json.loads(data[REPORT_KEY])
    return tuple(
        datetime.fromisoformat(report[key].replace("Z", "+00:00")).timestamp() for key in ("started", "updated")
    )  # type: ignore[return-value]


class JobWatch:
    """Wall-clock times at which the driver Jobs of a namespace first appeared (a watch, not polling)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.seen: dict[str, float] = {}
        self._thread = threading.Thread(target=self._watch, args=(api, namespace), daemon=True)
        self._thread.start()

    def _watch(self, api: client.ApiClient, namespace: str) -> None:
        batch = client.BatchV1Api(api)
        try:
            for event in watch.Watch().stream(batch.list_namespaced_job, namespace, timeout_seconds=3600):
                self.seen.setdefault(event["object"].metadata.name, time.time())
        except urllib3.exceptions.HTTPError:
            pass  # the control plane stopping at the end of the script


@dataclass(frozen=True)
class Bench:
    """Where the comparison runs: the control plane's API, the namespace of the runs, the Dask scheduler's address,
    a scratch folder for the CLI's files, and the watch that times the driver Jobs."""

    api: client.ApiClient
    namespace: str
    address: str
    folder: Path
    jobs: JobWatch


def list_runs(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    """The namespace's runs as the API server lists them (the client declares only `object`)."""
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    if not isinstance(listed, dict):
        raise TypeError(f"the run list is a {type(listed).__name__}")
    return listed


def through_operator(bench: Bench, index: int, spec: dict[str, Any]) -> tuple[float, float, float, int]:
    """(the operator's reaction, its follow-up, the driver's run time, batches) of one run."""
    api, namespace = bench.api, bench.namespace
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    name = f"operator-{index}"
    listed = list_runs(custom, namespace)
    events = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        field_selector=f"metadata.name={name}",
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=600,
    )
    created = time.time()
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, bench.address, spec))
    for event in events:
        status = event["object"].get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            finished = time.time()
            if status["phase"] != "Succeeded":
                raise SystemExit(f"the operator run failed: {status.get('message')}")
            break
    else:
        raise SystemExit(f"{name} did not finish within 600 s")
    began, last_report = _report_times(core, namespace, name)
    reaction, follow_up = bench.jobs.seen[driver_job_name(name)] - created, finished - last_report
    return reaction, follow_up, last_report - began, int(status["batches"]["total"])


def peak_rss_under_load(
    api: client.ApiClient, namespace: str, address: str, folder: Path, operator: OperatorProcess
) -> tuple[int, int, float]:
    """The operator's peak RSS (VmHWM growth included) while 10 runs of 5,000 one-day batches each run."""
    data = folder / "daily.parquet"
    write_dataset(make_random_walks(4, 5100, seed=3), str(data))
    spec = {
        "variables": [f"s{i:04d}" for i in range(4)],
        "window": {"start": "2000-03-01T00:00:00Z", "end": "2013-11-08T00:00:00Z", "batchSizeDays": 1},
        "variablesPerBatch": 4,
        "data": {"uri": data.as_uri()},
    }
    custom = client.CustomObjectsApi(api)
    began = time.monotonic()
    for i in range(10):
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(f"load-{i}", address, spec))
    done = 0
    while time.monotonic() - began < 1800:
        runs = list_runs(custom, namespace)["items"]
        load = [run for run in runs if run["metadata"]["name"].startswith("load-")]
        done = sum((run.get("status") or {}).get("phase") in ("Succeeded", "Failed") for run in load)
        if done == 10:
            break
        time.sleep(2)
    return operator.peak_rss_bytes(), done, time.monotonic() - began


def compare(bench: Bench, batch_days: int, repeats: int) -> None:
    """One warm-up of each kind, then CLI and operator runs alternating; prints the figures of this size."""
    spec = co2_spec(batch_days)
    first = 100 * batch_days
    through_cli(bench.address, bench.folder, first, spec)
    through_operator(bench, first, spec)
    cli_times: list[float] = []
    runs: list[tuple[float, float, float, int]] = []
    for i in range(first + 1, first + repeats + 1):
        cli_times.append(through_cli(bench.address, bench.folder, i, spec))
        runs.append(through_operator(bench, i, spec))
    overheads = sorted(reaction + follow_up for reaction, follow_up, _, _ in runs)
    drivers = [driver for _, _, driver, _ in runs]
    batches = runs[0][3]
    median = overheads[len(overheads) // 2]
    print(f"run: {batches} batches of the bundled weekly CO2 series ({batch_days}-day slices)")
    print(
        f"  operator overhead per run: best {overheads[0]:.2f} s, median {median:.2f} s of "
        f"{[round(t, 2) for t in overheads]}; of it create -> driver Job "
        f"{[round(reaction, 2) for reaction, _, _, _ in runs]}, driver's last report -> Succeeded "
        f"{[round(follow_up, 2) for _, follow_up, _, _ in runs]}"
    )
    print(
        f"  baseline CLI (--scheduler, in-process): best {min(cli_times):.2f} s of {[round(t, 2) for t in cli_times]}"
    )
    print(f"  driver (first report -> last report):  best {min(drivers):.2f} s of {[round(t, 2) for t in drivers]}")
    print(f"RESULT operator overhead per run: {overheads[0]:.2f} s best, {median:.2f} s median (target < 2 s)")
    print(
        f"RESULT driver against the CLI, {batches} batches: {100 * (min(drivers) / min(cli_times) - 1):+.1f}% "
        f"({min(drivers) - min(cli_times):+.2f} s; target within 10%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="measured runs of each kind, after one warm-up each")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the 10 x 5,000-batch memory run")
    args = parser.parse_args()
    # The operator's and the drivers' defaults (a 5 s status interval), with an admin policy for this address.
    policy = json.dumps({"daskModes": ["address"], "uriSchemes": ["builtin", "file"]})
    with (
        tempfile.TemporaryDirectory() as workdir,
        dask_cluster(Path(workdir)) as address,
        ControlPlane(ensure_bin_dir(allow_build=False)) as control_plane,
        NodeStandIn(control_plane.kubeconfig, Path(workdir) / "node"),
        control_plane.api_client() as api,
    ):
        folder = Path(workdir)
        apply_project_crds(api)
        namespace = create_namespace(api, "bench")
        bench = Bench(api, namespace, address, folder, JobWatch(api, namespace))
        with OperatorProcess(
            control_plane.kubeconfig, folder / "operator", policy=policy, status_interval_seconds="5"
        ) as operator:
            for batch_days in SIZES:
                compare(bench, batch_days, args.repeats)
            print(f"  operator peak RSS after these runs: {operator.peak_rss_bytes() / 2**20:.0f} MiB")
            if not args.skip_memory:
                peak, done, took = peak_rss_under_load(api, create_namespace(api, "load"), address, folder, operator)
                print(
                    f"RESULT operator peak RSS with 10 concurrent runs of 5,000 batches: {peak / 2**20:.0f} MiB "
                    f"({done}/10 finished in {took:.0f} s; target < 200 MiB)"
                )


if __name__ == "__main__":
    main()
