"""Runs survive what production throws at them: the operator, the run's driver or a Dask worker pod killed mid-run.

This module's operator keeps each run's DaskCluster after it finishes (keepClusters), so the test can ask the
scheduler how often it computed each batch before the cluster is removed with the run.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from retrodiction.api.children import dask_cluster_name, driver_job_name
from retrodiction.execution.grouping import batches_in_key
from retrodiction.identity import GROUP, VERSION
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import OperatorProcess
from tests.e2e.run_cluster import run_scheduler_client
from tests.e2e.runs import (
    ON_DASKCLUSTER,
    PLURAL,
    checkpointed_batches,
    cli_results,
    custom,
    get_run,
    kubectl,
    name_of,
    needs_pod_addresses,
    stored_summary,
    wait_for_progress,
    weekly_co2_run,
)
from tests.results import assert_same_results

pytestmark = needs_pod_addresses
DASK_PODS = True
OPERATOR_SETTINGS = {"keep_clusters": "true"}


def batches_computed(kube: Kube, namespace: str, run: str) -> int:
    """How many batches the run's scheduler computed: a task scores one batch or a group of them, and each
    transition of a task to memory is one computation of it (the transition log outlives released keys)."""

    def computed(dask_scheduler: Any) -> list[str]:
        return [str(entry.key) for entry in dask_scheduler.transition_log if entry.finish == "memory"]

    with run_scheduler_client(kube, namespace, run) as dask:
        keys = dask.run_on_scheduler(computed)
    return sum(batches_in_key(key) for key in keys if key.startswith("retrodiction-batch-"))


def complete(kube: Kube, namespace: str, name: str, operator: OperatorProcess) -> dict[str, Any]:
    waited = kubectl(kube, "wait", "-n", namespace, "--for=condition=Complete", f"rt/{name}", "--timeout=300s")
    assert waited.returncode == 0, waited.stderr + operator.tail()
    return get_run(kube, namespace, name)


def test_killing_the_operator_mid_run_resumes_without_computing_a_batch_twice(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = weekly_co2_run("restarted", dask=ON_DASKCLUSTER)
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    wait_for_progress(kube, namespace, "restarted", at_least=100)
    operator.kill()
    time.sleep(2)
    operator.start()
    run = complete(kube, namespace, "restarted", operator)
    total = run["status"]["batches"]["total"]
    assert run["status"]["batches"]["succeeded"] == total
    assert batches_computed(kube, namespace, "restarted") == total
    summary, _ = stored_summary(kube, namespace, run)
    assert_same_results(summary["results"], cli_results(body))


def test_killing_a_worker_pod_mid_run_still_gives_the_identical_summary(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = weekly_co2_run("worker-lost", dask=ON_DASKCLUSTER)
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    wait_for_progress(kube, namespace, "worker-lost", at_least=100)
    core = client.CoreV1Api(kube.api)
    workers = core.list_namespaced_pod(
        namespace, label_selector=f"dask.org/cluster-name={dask_cluster_name('worker-lost')},dask.org/component=worker"
    ).items
    assert workers
    core.delete_namespaced_pod(name_of(workers[0]), namespace, grace_period_seconds=0)
    run = complete(kube, namespace, "worker-lost", operator)
    assert run["status"]["batches"]["failed"] == 0
    summary, _ = stored_summary(kube, namespace, run)
    assert_same_results(summary["results"], cli_results(body))


def test_killing_the_driver_pod_mid_run_resumes_in_a_new_pod_without_computing_a_batch_twice(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = weekly_co2_run("driver-lost", dask=ON_DASKCLUSTER)
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    wait_for_progress(kube, namespace, "driver-lost", at_least=100)
    core = client.CoreV1Api(kube.api)
    [driver] = core.list_namespaced_pod(namespace, label_selector=f"job-name={driver_job_name('driver-lost')}").items
    core.delete_namespaced_pod(name_of(driver), namespace, grace_period_seconds=0)
    run = complete(kube, namespace, "driver-lost", operator)
    total = run["status"]["batches"]["total"]
    assert run["status"]["batches"]["succeeded"] == total
    assert batches_computed(kube, namespace, "driver-lost") == total
    assert run["status"]["batches"]["resumed"] > 0, "the new driver took the finished batches from the checkpoints"
    assert checkpointed_batches(kube, namespace, run) == set(), "checkpoints are removed once the summary is stored"
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={driver_job_name('driver-lost')}").items
    assert pods and name_of(driver) not in {name_of(pod) for pod in pods}, "a new pod finished the run"
    summary, _ = stored_summary(kube, namespace, run)
    assert_same_results(summary["results"], cli_results(body))
