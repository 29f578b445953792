"""What a platform team's namespace imposes on runs: Pod Security Admission `restricted` enforced on every pod a run
makes (its driver, and in kubernetes mode its Dask scheduler and workers), and the admin policy's limit on
concurrent runs per namespace, where later runs wait Pending (reason Queued) and start in creation order."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction.identity import GROUP, VERSION
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import TEST_POLICY, OperatorProcess
from retrodiction_harness.waiting import eventually
from tests.e2e.runs import (
    PLURAL,
    custom,
    get_run,
    kubectl,
    training,
)

DASK_PODS = True
OPERATOR_SETTINGS = {"policy": json.dumps({**json.loads(TEST_POLICY), "maxConcurrentRunsPerNamespace": 1})}


def enforce_restricted(kube: Kube, namespace: str) -> None:
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    core = client.CoreV1Api(kube.api)
    core.patch_namespace(namespace, {"metadata": {"labels": labels}})
    # The API server really enforces it: a pod `restricted` refuses is refused (a dry run, nothing is made).
    root = {
        "metadata": {"name": "probe"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, root, dry_run="All")  # type: ignore[arg-type]  # a raw pod, as sent
    assert refused.value.status == 403 and "PodSecurity" in str(refused.value.body)


def pod_security_refusals(kube: Kube, namespace: str) -> list[str]:
    listed = client.CoreV1Api(kube.api).list_namespaced_event(namespace)
    return [
        f"{e.involved_object.kind}/{e.involved_object.name}: {e.message}"
        for e in listed.items
        if "PodSecurity" in (e.message or "")
    ]


def complete(kube: Kube, namespace: str, name: str, operator: OperatorProcess, timeout: int = 240) -> dict[str, Any]:
    waited = kubectl(kube, "wait", "-n", namespace, "--for=condition=Complete", f"rt/{name}", f"--timeout={timeout}s")
    assert waited.returncode == 0, waited.stderr + operator.tail() + "\n".join(pod_security_refusals(kube, namespace))
    return get_run(kube, namespace, name)


def test_every_pod_of_a_run_on_its_own_daskcluster_passes_pod_security_restricted(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    enforce_restricted(kube, namespace)
    body = training("restricted", dask={"mode": "kubernetes", "workers": 2})
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    complete(kube, namespace, "restricted", operator)
    assert pod_security_refusals(kube, namespace) == []


def test_a_local_mode_run_passes_pod_security_restricted(kube: Kube, namespace: str, operator: OperatorProcess) -> None:
    enforce_restricted(kube, namespace)
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, training("restricted-local"))
    complete(kube, namespace, "restricted-local", operator)
    assert pod_security_refusals(kube, namespace) == []


def test_runs_over_the_namespace_limit_wait_queued_and_run_one_at_a_time_in_creation_order(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    names = ["first", "second", "third"]
    for name in names:
        custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, training(name))
    for name in names[1:]:

        def is_queued(name: str = name) -> bool:
            return (get_run(kube, namespace, name).get("status") or {}).get("reason") == "Queued"

        def status_of(name: str = name) -> str:
            return str(get_run(kube, namespace, name).get("status"))

        eventually(is_queued, f"{name} to wait Queued", status_of)
        status = get_run(kube, namespace, name)["status"]
        assert status["phase"] == "Pending" and "maxConcurrentRunsPerNamespace=1" in status["message"], status
    runs = [complete(kube, namespace, name, operator) for name in names]
    spans = [
        (datetime.fromisoformat(run["status"]["startTime"]), datetime.fromisoformat(run["status"]["completionTime"]))
        for run in runs
    ]
    for (_, ended), (began, _) in itertools.pairwise(spans):
        assert ended <= began, f"two runs of one namespace ran at once: {spans}"
    queued = client.CoreV1Api(kube.api).list_namespaced_event(
        namespace, field_selector="involvedObject.name=third,reason=Queued"
    )
    assert len(queued.items) == 1, "one Queued event per run, not one per pass"
