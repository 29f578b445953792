"""The operator end to end on the real API server, with runs computed by an in-operator Dask cluster
(spec.dask.mode=local): lifecycle, status, Events, the summary ConfigMap, invalid input, TTL."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from retrodiction.api.training import GROUP, VERSION
from retrodiction.config import TrainingConfig
from retrodiction.controller.children import COMPONENT_SUMMARY, component_selector
from retrodiction.controller.summary_configmaps import read_summary_configmaps
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.execution.task import run_batch
from retrodiction.manifest import load_training
from retrodiction.summary import RunInfo, SummaryAccumulator
from tests.e2e.harness.binaries import ensure_bin_dir
from tests.e2e.harness.cluster import Kube
from tests.e2e.harness.crds import REPO, apply_project_crds
from tests.e2e.harness.operator_process import OperatorProcess

PLURAL = "retrodictiontrainings"
EXAMPLE = REPO / "examples" / "training-macrodata.yaml"


@pytest.fixture(scope="module")
def operator(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    apply_project_crds(kube.api)
    with OperatorProcess(kube.kubeconfig, tmp_path_factory.mktemp("operator")) as process:
        yield process
        print(process.tail(30))


def training(name: str, **spec_changes: Any) -> dict[str, Any]:
    body = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"] = {"name": name}
    body["spec"]["dask"] = {"mode": "local", "workers": 2}
    for path, value in spec_changes.items():
        node = body["spec"]
        *parents, leaf = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return body


def custom(kube: Kube) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube.api)


def get_run(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom(kube).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return found


def wait_for_phase(kube: Kube, namespace: str, name: str, phases: set[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = get_run(kube, namespace, name)
        if (run.get("status") or {}).get("phase") in phases:
            return run
        time.sleep(0.5)
    raise AssertionError(f"{name} never reached {phases}; status: {run.get('status')}")


def kubectl(kube: Kube, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    binary = ensure_bin_dir(allow_build=False) / "kubectl"
    return subprocess.run(
        [str(binary), "--kubeconfig", str(kube.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The same spec computed in-process, as `retrodiction train` would."""
    spec = load_training_from(body).spec
    coordinator = ParallelTrainingCoordinator(TrainingConfig.from_spec(spec))
    coordinator.prepare_training_batches(
        spec.variables,
        spec.window.start,
        spec.window.end,
        batch_size_days=spec.window.batch_size_days,
        variables_per_batch=spec.variables_per_batch,
    )
    accumulator = SummaryAccumulator(spec.variables, coordinator.config.engine)
    accumulator.add_all(run_batch(task) for task in coordinator.tasks())
    return accumulator.document(RunInfo("x", "u", {}), len(coordinator.batches))["results"]


def load_training_from(body: dict[str, Any]) -> Any:
    path = Path(f"/tmp/rt-{body['metadata']['name']}.yaml")
    path.write_text(yaml.safe_dump(body))
    return load_training(path)


def events_of(kube: Kube, namespace: str, name: str) -> list[str]:
    listed = client.CoreV1Api(kube.api).list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    return [event.reason for event in listed.items]


def test_an_applied_run_completes_and_its_summary_configmap_equals_the_cli_summary(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = training("macro")
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    waited = kubectl(kube, "wait", "-n", namespace, "--for=condition=Complete", "rt/macro", "--timeout=150s")
    assert waited.returncode == 0, waited.stderr + operator.tail()

    run = get_run(kube, namespace, "macro")
    status = run["status"]
    assert status["phase"] == "Succeeded"
    assert status["observedGeneration"] == run["metadata"]["generation"]
    assert status["batches"]["succeeded"] == status["batches"]["total"] > 1
    assert status["progress"] == f"{status['batches']['total']}/{status['batches']['total']}"
    assert status["completedPercentage"] == 100.0
    assert status["startTime"] <= status["completionTime"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Complete"] == "True" and conditions["Failed"] == "False"

    configmaps = client.CoreV1Api(kube.api).list_namespaced_config_map(
        namespace,
        label_selector=component_selector(
            {"name": "macro", "namespace": namespace, "uid": run["metadata"]["uid"]}, COMPONENT_SUMMARY
        ),
    )
    stored = [kube.api.sanitize_for_serialization(cm) for cm in configmaps.items]
    assert status["summaryRef"]["configMap"] in {cm["metadata"]["name"] for cm in stored}
    summary = read_summary_configmaps(stored)
    assert summary["run"]["uid"] == run["metadata"]["uid"]
    for owner in stored[0]["metadata"]["ownerReferences"]:
        assert owner["uid"] == run["metadata"]["uid"]

    expected = cli_results(body)
    assert len(summary["results"]) == len(expected)
    for mine, theirs in zip(summary["results"], expected, strict=True):
        for key in ("variable", "model", "horizon", "n", "skipped", "successes", "failures", "trust"):
            assert mine[key] == theirs[key]
        for key in ("mae", "rmse", "mase", "directionalAccuracy"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-9)

    reasons = events_of(kube, namespace, "macro")
    assert {"ClusterCreating", "RunStarted", "SummaryStored", "RunSucceeded"} <= set(reasons), reasons
    printed = kubectl(kube, "get", "rt", "-n", namespace)
    assert "Succeeded" in printed.stdout and "PHASE" in printed.stdout


def test_a_spec_that_cannot_run_fails_fast_with_a_reason_and_no_retry_storm(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = training("typo", variables=["realgdp", "gdp_typo"])
    began = time.monotonic()
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "typo", {"Failed", "Succeeded"}, timeout=60)
    assert time.monotonic() - began < 20
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["reason"] == "InvalidSpec"
    assert "gdp_typo" in run["status"]["message"]
    version = run["metadata"]["resourceVersion"]
    time.sleep(5)
    assert get_run(kube, namespace, "typo")["metadata"]["resourceVersion"] == version, "the run kept changing"
    assert events_of(kube, namespace, "typo").count("InvalidSpec") == 1


def test_an_unreadable_data_uri_fails_the_run_with_the_field_named(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = training("nodata", data={"uri": "file:///nonexistent/data.parquet"})
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "nodata", {"Failed", "Succeeded"}, timeout=60)
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["message"].startswith("spec.data.uri: ")


def test_a_finished_run_is_deleted_after_its_ttl(kube: Kube, namespace: str, operator: OperatorProcess) -> None:
    body = training("short-lived", variables=["cpi"], execution__ttlSecondsAfterFinished=2)
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    wait_for_phase(kube, namespace, "short-lived", {"Succeeded"}, timeout=180)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        item["metadata"]["name"] == "short-lived"
        for item in custom(kube).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    ):
        time.sleep(1)
    remaining = custom(kube).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    left = [item for item in remaining if item["metadata"]["name"] == "short-lived"]
    assert not left, f"outlived its TTL: {left[0].get('status')}\n{operator.tail()}"


def test_the_operator_exposes_prometheus_metrics(operator: OperatorProcess) -> None:
    text = operator.metrics()
    for name in (
        "retrodiction_runs_finished_total",
        "retrodiction_batches_total",
        "retrodiction_batch_duration_seconds",
        "retrodiction_cluster_provisioning_seconds",
    ):
        assert name in text
