"""The operator with a DaskCluster per run (spec.dask.mode=kubernetes): dask-kubernetes creates the scheduler and
worker pods, which the node stand-in runs as processes locally (real nodes on an existing cluster)."""

from __future__ import annotations

import os

from kubernetes import client

from retrodiction.api.children import dask_cluster_name
from retrodiction.identity import DASK_CLUSTERS, DASK_GROUP, DASK_VERSION, GROUP, VERSION
from retrodiction.kube_client import as_dict
from retrodiction.report import render_html_report
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import OperatorProcess
from retrodiction_harness.waiting import eventually
from tests.e2e.runs import (
    PLURAL,
    cli_results,
    custom,
    get_run,
    kubectl,
    listed_items,
    needs_pod_addresses,
    stored_summary,
    training,
)
from tests.results import assert_same_results

# The stand-in runs commands, not images; on a real cluster this is the image the workflow built and loaded.
WORKER_IMAGE = os.environ.get("RETRODICTION_WORKER_IMAGE", "retrodiction-worker:e2e")


pytestmark = needs_pod_addresses
DASK_PODS = True
OPERATOR_SETTINGS = {"worker_image": WORKER_IMAGE}


def dask_clusters(kube: Kube, namespace: str) -> list[str]:
    listed = listed_items(kube, namespace, DASK_CLUSTERS, DASK_GROUP, DASK_VERSION)
    return [item["metadata"]["name"] for item in listed]


def test_a_run_on_its_own_daskcluster_completes_and_removes_the_cluster(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = training("macro-k8s", dask={"mode": "kubernetes", "workers": 2})
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    cluster = dask_cluster_name("macro-k8s")

    # While it runs, the DaskCluster belongs to the run.
    eventually(lambda: cluster in dask_clusters(kube, namespace), "the DaskCluster", timeout=60)
    owned = as_dict(
        custom(kube).get_namespaced_custom_object(DASK_GROUP, DASK_VERSION, namespace, DASK_CLUSTERS, cluster)
    )
    run = get_run(kube, namespace, "macro-k8s")
    assert [o["uid"] for o in owned["metadata"]["ownerReferences"]] == [run["metadata"]["uid"]]

    waited = kubectl(kube, "wait", "-n", namespace, "--for=condition=Complete", "rt/macro-k8s", "--timeout=240s")
    assert waited.returncode == 0, waited.stderr + operator.tail()
    run = get_run(kube, namespace, "macro-k8s")
    assert run["status"]["daskCluster"]["name"] == cluster
    assert run["status"]["daskCluster"]["schedulerAddress"].startswith("tls://")  # the run's TLS only
    summary, _ = stored_summary(kube, namespace, run)
    assert_same_results(summary["results"], cli_results(body))

    # Finished: the cluster and its pods are gone (the operator deletes it; keepClusters is off).
    eventually(lambda: cluster not in dask_clusters(kube, namespace), "the DaskCluster to be deleted", timeout=60)
    eventually(
        lambda: (
            not client.CoreV1Api(kube.api)
            .list_namespaced_pod(namespace, label_selector=f"dask.org/cluster-name={cluster}")
            .items
        ),
        "the Dask pods to be gone",
        timeout=120,
    )


# A statsforecast model and the example plugin (examples/plugin-model, installed in the test environment, which is
# the stand-in's worker image) beside two builtins; both custom models give 80% and 95% intervals.
CUSTOM_MODELS = [
    {"name": "theta", "statsforecast": {"model": "Theta", "params": {"season_length": 4}}, "levels": [80, 95]},
    {
        "name": "damped",
        "plugin": {"entryPoint": "damped-trend", "params": {"phi": 0.9}},
        "refitEvery": 4,
        "levels": [80, 95],
    },
]


def test_custom_models_run_on_a_daskcluster_and_the_report_shows_them_beside_the_builtins(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    body = training(
        "custom-models",
        dask={"mode": "kubernetes", "workers": 2},
        variables=["realgdp", "cpi", "unemp"],
        variablesPerBatch=2,
        window={"start": "2000-01-01T00:00:00Z", "end": "2009-10-01T00:00:00Z", "batchSizeDays": 1000},
        retrodiction__models=["naive", "drift"],
        retrodiction__customModels=CUSTOM_MODELS,
    )
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    waited = kubectl(kube, "wait", "-n", namespace, "--for=condition=Complete", "rt/custom-models", "--timeout=300s")
    assert waited.returncode == 0, waited.stderr + operator.tail()
    summary, _ = stored_summary(kube, namespace, get_run(kube, namespace, "custom-models"))
    assert_same_results(summary["results"], cli_results(body))
    assert [cost["model"] for cost in summary["models"]] == ["naive", "drift", "theta", "damped"]
    assert all(cost["errors"] == 0 and cost["seconds"] > 0 for cost in summary["models"])
    intervals = {row["model"]: [i["level"] for i in row.get("intervals", [])] for row in summary["results"]}
    assert intervals == {"naive": [], "drift": [], "theta": [80, 95], "damped": [80, 95]}

    html = render_html_report(summary)
    for name, source in [("naive", "builtin"), ("theta", "statsforecast Theta"), ("damped", "plugin damped-trend")]:
        assert f'<tr><td>{name}</td><td class="text">{source}</td>' in html
    assert 'id="intervals"' in html and "interval-coverage" in html
