"""Which runs an operator takes on: only those in the namespaces it watches, and with a standby replica (Kopf
peering) only the active replica's, until that replica dies and the standby takes over the run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from retrodiction.identity import GROUP, VERSION
from retrodiction.kube_client import as_dict
from retrodiction_harness.cluster import Kube, create_namespace, delete_namespace
from retrodiction_harness.crds import apply_project_crds
from retrodiction_harness.operator_process import OperatorProcess
from retrodiction_harness.waiting import eventually
from tests.e2e.runs import (
    PLURAL,
    cli_results,
    custom,
    get_run,
    stored_summary,
    training,
    wait_for_phase,
    weekly_co2_run,
)
from tests.results import assert_same_results


@pytest.fixture
def other_namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    name = create_namespace(kube.api, f"other-{request.node.name}")
    yield name
    delete_namespace(kube.api, name)


def status_patches(operator: OperatorProcess) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in operator.metrics().splitlines()
        if line.startswith("retrodiction_status_patches_total{")
    )


def test_an_operator_watching_one_namespace_leaves_runs_elsewhere_untouched(
    kube: Kube, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    apply_project_crds(kube.api)
    with OperatorProcess(kube.kubeconfig, tmp_path, namespaces=namespace) as operator:
        body = training("mine", variables=["cpi"])
        elsewhere = training("not-mine", variables=["cpi"])
        custom(kube).create_namespaced_custom_object(GROUP, VERSION, other_namespace, PLURAL, elsewhere)
        custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        run = wait_for_phase(kube, namespace, "mine", {"Succeeded", "Failed"}, timeout=120)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        untouched = get_run(kube, other_namespace, "not-mine")
        assert "status" not in untouched, operator.tail()
        assert not untouched["metadata"].get("finalizers")
        assert not any(
            key.startswith("training.retrodiction.dev/") for key in untouched["metadata"].get("annotations", {})
        )


@pytest.fixture
def peering(kube: Kube) -> Iterator[str]:
    """A peering name for one test; the operators create the ClusterKopfPeering themselves."""
    apply_project_crds(kube.api)  # they include Kopf's peering CRDs
    name = f"retrodiction-{uuid.uuid4().hex[:8]}"
    yield name
    client.CustomObjectsApi(kube.api).delete_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", name)


def peers(kube: Kube, peering: str) -> dict[str, Any]:
    found = as_dict(
        client.CustomObjectsApi(kube.api).get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", peering)
    )
    return dict(found.get("status") or {})


def test_a_standby_replica_waits_and_takes_over_the_run_when_the_active_one_dies(
    kube: Kube, namespace: str, peering: str, tmp_path: Path
) -> None:
    apply_project_crds(kube.api)
    lifetime = "10"
    active = OperatorProcess(
        kube.kubeconfig, tmp_path / "active", peering=peering, peering_priority="200", peering_lifetime_seconds=lifetime
    )
    standby = OperatorProcess(
        kube.kubeconfig,
        tmp_path / "standby",
        peering=peering,
        peering_priority="100",
        peering_lifetime_seconds=lifetime,
    )
    with active, standby:
        eventually(lambda: len(peers(kube, peering)) == 2, "both replicas in the peering", standby.tail)
        body = weekly_co2_run("handed-over")
        custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        eventually(
            lambda: (
                ((get_run(kube, namespace, "handed-over").get("status") or {}).get("batches") or {}).get("succeeded", 0)
                >= 100
            ),
            "the active replica to make progress",
            active.tail,
            timeout=180,
        )
        assert status_patches(standby) == 0, "the standby wrote to a run while the active replica was alive"
        active.kill()  # no goodbye in the peering object: the standby waits out the lifetime
        run = wait_for_phase(kube, namespace, "handed-over", {"Succeeded", "Failed"}, timeout=300)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert status_patches(standby) > 0
    summary, _ = stored_summary(kube, namespace, run)
    assert_same_results(summary["results"], cli_results(body))
