"""Deleting, suspending and resuming runs mid-flight, and many runs at once, with a DaskCluster per run."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from retrodiction.api.children import dask_cluster_name, run_label_value
from retrodiction.identity import DASK_CLUSTERS, DASK_GROUP, DASK_VERSION, GROUP, RUN_LABEL, VERSION
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import OperatorProcess
from retrodiction_harness.waiting import eventually
from tests.e2e.runs import (
    ON_DASKCLUSTER,
    PLURAL,
    cli_results,
    custom,
    get_run,
    kubectl,
    listed_items,
    name_of,
    needs_pod_addresses,
    run_exists,
    stored_summary,
    training,
    wait_for_phase,
    wait_for_progress,
    weekly_co2_run,
)
from tests.results import assert_same_results

pytestmark = needs_pod_addresses
DASK_PODS = True


def leftovers(kube: Kube, namespace: str, name: str) -> dict[str, list[str]]:
    core = client.CoreV1Api(kube.api)
    clusters = listed_items(kube, namespace, DASK_CLUSTERS, DASK_GROUP, DASK_VERSION)
    pods = core.list_namespaced_pod(namespace, label_selector=f"dask.org/cluster-name={dask_cluster_name(name)}")
    maps = core.list_namespaced_config_map(namespace, label_selector=f"{RUN_LABEL}={run_label_value(name)}")
    return {
        "daskclusters": [c["metadata"]["name"] for c in clusters],
        "pods": [name_of(p) for p in pods.items],
        "configmaps": [name_of(m) for m in maps.items],
    }


def test_deleting_a_run_mid_flight_leaves_nothing_behind(kube: Kube, namespace: str, operator: OperatorProcess) -> None:
    custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, weekly_co2_run("doomed", dask=ON_DASKCLUSTER)
    )
    wait_for_progress(kube, namespace, "doomed", at_least=50)
    assert leftovers(kube, namespace, "doomed")["daskclusters"]
    custom(kube).delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "doomed")
    # The finalizer is released once the run's daemon has stopped: the object really goes away.

    def stuck() -> str:
        run = get_run(kube, namespace, "doomed")
        return f"metadata: {run['metadata']}\nstatus: {run.get('status')}\n{operator.thread_dump()}"

    eventually(
        lambda: not run_exists(kube, namespace, "doomed"), "the run (and its finalizer) to be gone", stuck, timeout=90
    )
    eventually(
        lambda: not any(leftovers(kube, namespace, "doomed").values()),
        "the run's children to be garbage-collected",
        lambda: str(leftovers(kube, namespace, "doomed")),
        timeout=180,
    )


def test_suspend_then_resume_finishes_with_the_identical_summary(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = weekly_co2_run("paused", dask=ON_DASKCLUSTER)
    api = custom(kube)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    wait_for_progress(kube, namespace, "paused", at_least=50)
    api.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "paused", {"spec": {"execution": {"suspend": True}}}
    )
    suspended = wait_for_phase(kube, namespace, "paused", {"Suspended"}, timeout=60)
    kept = suspended["status"]["batches"]["succeeded"]
    assert 0 < kept < suspended["status"]["batches"]["total"]
    conditions = {c["type"]: c["status"] for c in suspended["status"]["conditions"]}
    assert conditions["Suspended"] == "True"
    eventually(
        lambda: not leftovers(kube, namespace, "paused")["daskclusters"], "the cluster to be released", timeout=60
    )

    api.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "paused", {"spec": {"execution": {"suspend": False}}}
    )
    waited = kubectl(kube, "wait", "-n", namespace, "--for=condition=Complete", "rt/paused", "--timeout=300s")
    assert waited.returncode == 0, waited.stderr + operator.tail()
    run = get_run(kube, namespace, "paused")
    summary, _ = stored_summary(kube, namespace, run)
    assert_same_results(summary["results"], cli_results(body))


def test_ten_runs_applied_at_once_all_succeed(kube: Kube, namespace: str, operator: OperatorProcess) -> None:
    variables = ["realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "infl"]
    bodies: dict[str, dict[str, Any]] = {}
    for index, variable in enumerate(variables):
        name = f"many-{index}"
        bodies[name] = training(name, variables=[variable], dask={"mode": "kubernetes", "workers": 1})
        custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, bodies[name])
    for name, body in bodies.items():
        run = wait_for_phase(kube, namespace, name, {"Succeeded", "Failed"}, timeout=420)
        assert run["status"]["phase"] == "Succeeded", (name, run["status"].get("message"), operator.tail())
        summary, _ = stored_summary(kube, namespace, run)
        assert_same_results(summary["results"], cli_results(body))
