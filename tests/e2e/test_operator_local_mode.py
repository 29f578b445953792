"""The operator end to end on the real API server, with runs computed by an in-operator Dask cluster
(spec.dask.mode=local): lifecycle, status, Events, the summary ConfigMap, invalid input, TTL."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from retrodiction.api.children import driver_job_name
from retrodiction.data import make_random_walks, write_dataset
from retrodiction.identity import GROUP, VERSION
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import OperatorProcess
from retrodiction_harness.waiting import eventually
from tests.e2e.runs import (
    PLURAL,
    applied_without_drift,
    apply_as_gitops,
    cli_results,
    custom,
    events_of,
    get_run,
    kubectl,
    listed_items,
    needs_pod_addresses,
    pod_containers,
    pod_status,
    recorded_phases,
    stored_summary,
    training,
    wait_for_phase,
    wait_for_progress,
    weekly_co2_run,
)
from tests.results import assert_same_results


def test_an_applied_run_completes_and_its_summary_configmap_equals_the_cli_summary(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = training("macro")
    with recorded_phases(kube, namespace, "macro") as phases:
        custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        waited = kubectl(kube, "wait", "-n", namespace, "--for=condition=Complete", "rt/macro", "--timeout=150s")
        assert waited.returncode == 0, waited.stderr + operator.tail()
        eventually(lambda: phases[-1:] == ["Succeeded"], "the watch to see Succeeded", lambda: str(phases))
    assert phases == ["Pending", "Provisioning", "Running", "Succeeded"]

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

    summary, stored = stored_summary(kube, namespace, run)
    assert status["summaryRef"]["configMap"] in {cm["metadata"]["name"] for cm in stored}
    assert summary["run"]["uid"] == run["metadata"]["uid"]
    for owner in stored[0]["metadata"]["ownerReferences"]:
        assert owner["uid"] == run["metadata"]["uid"]
    assert_same_results(summary["results"], cli_results(body))

    # Events are posted off the run's path, so the last ones may trail the status by a moment.
    expected = {"ClusterCreating", "RunStarted", "SummaryStored", "RunSucceeded"}
    eventually(
        lambda: expected <= set(events_of(kube, namespace, "macro")),
        "the run's Events",
        lambda: str(events_of(kube, namespace, "macro")),
        timeout=30,
    )
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
    eventually(lambda: "InvalidSpec" in events_of(kube, namespace, "typo"), "the InvalidSpec Event", timeout=30)
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
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(
        item["metadata"]["name"] == "short-lived" for item in listed_items(kube, namespace)
    ):
        time.sleep(1)
    remaining = listed_items(kube, namespace)
    left = [item for item in remaining if item["metadata"]["name"] == "short-lived"]
    assert not left, f"outlived its TTL: {left[0]['metadata']}\n{left[0].get('status')}\n{operator.tail()}"


def test_the_operator_exposes_run_level_prometheus_metrics_only(operator: OperatorProcess) -> None:
    text = operator.metrics()
    for name in (
        "retrodiction_runs_finished_total",
        "retrodiction_cluster_provisioning_seconds",
        "retrodiction_status_patches_total",
        "retrodiction_driver_reports_refused_total",
    ):
        assert name in text
    # Batches are the drivers' business: the operator never sees one (each driver serves these itself).
    assert "retrodiction_batches" not in text and "retrodiction_batch_duration_seconds" not in text


@needs_pod_addresses
def test_each_driver_serves_batch_level_metrics_at_its_pod_while_it_runs(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, weekly_co2_run("metered"))
    wait_for_progress(kube, namespace, "metered", at_least=50)
    core = client.CoreV1Api(kube.api)
    [pod] = core.list_namespaced_pod(namespace, label_selector=f"job-name={driver_job_name('metered')}").items
    [port] = [p.container_port for c in pod_containers(pod) for p in c.ports or () if p.name == "http-metrics"]
    with urllib.request.urlopen(f"http://{pod_status(pod).pod_ip}:{port}/metrics", timeout=5) as reply:
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(reply.read().decode())
            for sample in family.samples
        }
    assert samples[("retrodiction_batches_total", (("result", "succeeded"),))] >= 1
    assert samples[("retrodiction_batch_duration_seconds_count", ())] >= 1


def five_thousand_one_day_batches(
    name: str, tmp_path_factory: pytest.TempPathFactory, *, series: int, seed: int, **spec: Any
) -> dict[str, Any]:
    """A run of one-day batches over 5,000 days of daily random walks s0000.. (written for it)."""
    path = tmp_path_factory.mktemp("data") / "daily.parquet"
    write_dataset(make_random_walks(series, 5100, seed=seed), str(path))
    return training(
        name,
        variables=[f"s{i:04d}" for i in range(series)],
        window={"start": "2000-03-01T00:00:00Z", "end": "2013-11-08T00:00:00Z", "batchSizeDays": 1},
        data={"uri": path.as_uri()},
        **spec,
    )


def test_a_run_of_five_thousand_batches_keeps_its_status_small(
    kube: Kube, namespace: str, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # One batch per day, every status field at its largest.
    body = five_thousand_one_day_batches(
        "five-thousand",
        tmp_path_factory,
        series=2,
        seed=4,
        retrodiction={"horizons": [1, 7], "seasonLength": 7, "windowLength": 28},
    )
    patches_before = metric_total(operator.metrics(), "retrodiction_status_patches_total")
    began = time.monotonic()
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    largest = 0
    while time.monotonic() - began < 600:
        run = get_run(kube, namespace, "five-thousand")
        largest = max(largest, len(json.dumps(run.get("status") or {})))
        if (run.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            break
        time.sleep(0.5)
    minutes = (time.monotonic() - began) / 60
    status = run["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["batches"]["total"] == 5000
    assert largest < 16 * 1024
    patches = metric_total(operator.metrics(), "retrodiction_status_patches_total") - patches_before
    peak_rss = operator.peak_rss_bytes()
    print(
        f"\n5,000-batch run: {minutes * 60:.1f} s, largest status {largest} bytes, {patches:.0f} status patches "
        f"({patches / minutes:.1f}/min), operator peak RSS {peak_rss / 2**20:.0f} MiB"
    )
    # Progress at most once a second (the test's interval) plus a handful of phase changes.
    assert patches <= minutes * 60 + 10


def metric_total(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_a_missing_credentials_secret_fails_the_run_naming_the_field(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = training("no-secret", data={"uri": "builtin://macrodata", "credentialsSecretRef": {"name": "absent"}})
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "no-secret", {"Failed", "Succeeded"}, timeout=60)
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["reason"] == "InvalidSpec"
    assert run["status"]["message"].startswith("spec.data.credentialsSecretRef: Secret 'absent' was not found")


def test_a_run_past_its_deadline_fails_and_keeps_what_it_finished(
    kube: Kube, namespace: str, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # 5,000 one-day batches with a slow SES (2,062 rows of warm-up a forecast) take about 20 s of scoring here:
    # they cannot finish within 10 s, and what did finish is stored before the run fails. (Light batches share
    # Dask tasks, so the per-task cost that once made this run long no longer does.)
    body = five_thousand_one_day_batches(
        "late",
        tmp_path_factory,
        series=1,
        seed=8,
        execution={"activeDeadlineSeconds": 10},
        retrodiction={"sesAlpha": 0.01},
    )
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "late", {"Failed", "Succeeded"}, timeout=120)
    status = run["status"]
    assert status["phase"] == "Failed"
    assert status["reason"] == "DeadlineExceeded"
    assert 0 < status["batches"]["succeeded"] < status["batches"]["total"], status
    summary, _ = stored_summary(kube, namespace, run)
    assert summary["batches"]["succeeded"] == status["batches"]["succeeded"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Failed"] == "True" and conditions["Complete"] == "False"


def test_a_run_applied_by_a_gitops_tool_shows_no_drift_after_the_operator_ran_it(
    kube: Kube, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    body = training("gitops", variables=["cpi"])
    apply_as_gitops(kube, namespace, body, tmp_path)
    run = wait_for_phase(kube, namespace, "gitops", {"Succeeded", "Failed"}, timeout=120)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    code, diff = applied_without_drift(kube, namespace, body, tmp_path)
    assert (code, diff) == (0, ""), diff


def test_a_custom_model_whose_plugin_is_missing_fails_the_run_before_any_batch_naming_the_field(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    plugin = {"name": "mine", "plugin": {"entryPoint": "not-installed"}}
    body = training("no-plugin", retrodiction__customModels=[plugin])
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "no-plugin", {"Failed", "Succeeded"}, timeout=60)
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["reason"] == "InvalidSpec"
    assert run["status"]["message"].startswith(
        "spec.retrodiction.customModels[0] (mine).plugin.entryPoint: no entry point 'not-installed'"
    )
    assert (run["status"].get("batches") or {}).get("succeeded", 0) == 0
