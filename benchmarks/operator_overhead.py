"""A run through the operator against the same run through the CLI, on one and the same Dask cluster.

The script starts a LocalCluster (2 worker processes), the local control plane of the e2e tests and the operator
(`retrodiction operator`, as its own process). The baseline is `retrodiction train --scheduler ADDRESS` (called
in-process, so interpreter start-up is not counted against it); the operator gets the same spec with
spec.dask.mode=address pointing at the same scheduler. Operator time runs from `create` to the watch event whose
status says Succeeded, so it includes the watch, planning, status writes, checkpoints and storing the summary
ConfigMap. The two kinds of run alternate after one warm-up of each, so a machine that speeds up or slows down
during the benchmark weighs on both alike. Best of --repeats runs each; target: overhead under 10%.

    python -m benchmarks.operator_overhead [--repeats 5]   # from the repository root (it uses tests/e2e/harness)
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from distributed import LocalCluster
from kubernetes import client, watch
from tests.e2e.harness.binaries import ensure_bin_dir
from tests.e2e.harness.cluster import create_namespace
from tests.e2e.harness.controlplane import ControlPlane
from tests.e2e.harness.crds import apply_project_crds
from tests.e2e.harness.operator_process import OperatorProcess

from retrodiction.api.training import GROUP, VERSION
from retrodiction.cli import main as cli

PLURAL = "retrodictiontrainings"

# About 380 batches: the bundled weekly CO2 series, one 30-day slice per batch.
SPEC: dict[str, Any] = {
    "variables": ["co2"],
    "window": {"start": "1970-01-01T00:00:00Z", "end": "2001-12-01T00:00:00Z", "batchSizeDays": 30},
    "data": {"uri": "builtin://co2"},
    "retrodiction": {"horizons": [1, 4, 13], "seasonLength": 52, "windowLength": 13},
}


def manifest(name: str, address: str) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    spec["dask"] = {"mode": "address", "address": address}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RetrodictionTraining",
        "metadata": {"name": name},
        "spec": spec,
    }


def through_cli(address: str, folder: Path, index: int) -> float:
    path = folder / f"cli-{index}.yaml"
    path.write_text(yaml.safe_dump(manifest(f"cli-{index}", address)))
    began = time.perf_counter()
    code = cli(["train", str(path), "--scheduler", address, "--quiet", "--output", str(folder / f"cli-{index}.json")])
    elapsed = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"the CLI run failed with exit code {code}")
    return elapsed


def through_operator(api: client.ApiClient, namespace: str, address: str, index: int) -> tuple[float, int]:
    custom = client.CustomObjectsApi(api)
    name = f"operator-{index}"
    # The watch starts before the create, so the first event is the creation and the finished status is seen
    # the moment the API server has it (polling would add half a poll interval on average).
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
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
    began = time.perf_counter()
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, address))
    for event in events:
        status = event["object"].get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            elapsed = time.perf_counter() - began
            if status["phase"] != "Succeeded":
                raise SystemExit(f"the operator run failed: {status.get('message')}")
            return elapsed, int(status["batches"]["total"])
    raise SystemExit(f"{name} did not finish within 600 s")


def status_patches(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("retrodiction_status_patches_total{")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="measured runs of each kind, after one warm-up each")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as workdir,
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as dask,
        ControlPlane(ensure_bin_dir(allow_build=False)) as control_plane,
        control_plane.api_client() as api,
    ):
        folder = Path(workdir)
        apply_project_crds(api)
        namespace = create_namespace(api, "bench")
        address = dask.scheduler_address
        with OperatorProcess(control_plane.kubeconfig, folder / "operator") as operator:
            through_cli(address, folder, 0)
            through_operator(api, namespace, address, 0)
            patches_before = status_patches(operator.metrics())
            cli_times: list[float] = []
            runs: list[tuple[float, int]] = []
            for i in range(1, args.repeats + 1):
                cli_times.append(through_cli(address, folder, i))
                runs.append(through_operator(api, namespace, address, i))
            written = status_patches(operator.metrics()) - patches_before
    operator_times = [elapsed for elapsed, _ in runs]
    batches = runs[0][1]
    best_cli, best_operator = min(cli_times), min(operator_times)
    print(f"run: {batches} batches of the bundled weekly CO2 series, LocalCluster of 2 worker processes")
    print(f"  baseline CLI (--scheduler, in-process): best {best_cli:.2f} s of {[round(t, 2) for t in cli_times]}")
    operator_list = [round(t, 2) for t in operator_times]
    print(f"  operator (create -> Succeeded):        best {best_operator:.2f} s of {operator_list}")
    minutes = sum(operator_times) / 60
    per_run, per_minute = written / len(runs), written / minutes
    print(f"  status patches: {written:.0f} over {len(runs)} runs ({per_run:.1f} per run, {per_minute:.0f}/min)")
    print(f"RESULT operator overhead over the CLI: {100 * (best_operator / best_cli - 1):+.1f}% (target < 10%)")


if __name__ == "__main__":
    main()
