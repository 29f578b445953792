"""The product as a user meets it, on the real node: the chart installed by helm runs the operator from the image
built from worker_image/Dockerfile, runs compute on Dask pods of the worker image (their DaskClusters made real
by the dask-kubernetes controller, itself a pod of the chart's dependency), survive losing a worker pod and the
operator pod, store their summaries in S3, and `kubectl logs`/`exec` work. Service names resolve through CoreDNS.

One node for the whole module, kept under the project's cache (<cache>/node): containerd's image store outlives
it, so a warm run imports nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from retrodiction.api.children import dask_cluster_name, driver_job_name
from retrodiction.identity import GROUP, VERSION
from retrodiction_harness.chart import adopt_existing_crds, helm, prepared_chart
from retrodiction_harness.cluster import Kube, create_namespace, delete_namespace
from retrodiction_harness.realnode.images import NodeImages, locked_version
from retrodiction_harness.realnode.machine import differences, machine_state
from retrodiction_harness.realnode.node import RealNode
from retrodiction_harness.realnode.product import ProductNode, node_for_the_product
from retrodiction_harness.waiting import eventually
from tests.e2e.runs import (
    ON_DASKCLUSTER,
    PLURAL,
    cli_results,
    custom,
    kubectl,
    name_of,
    pod_containers,
    pod_status,
    s3_secret,
    stored_summary,
    training,
    wait_for_phase,
    wait_for_progress,
    weekly_co2_run,
)
from tests.results import assert_same_results
from tests.s3 import S3Server, running_s3_server

RELEASE = "retro"
CHART_CRDS = tuple(f"{plural}.{GROUP}" for plural in (PLURAL, "retrodictionschedules"))
FULLNAME = f"{RELEASE}-retrodiction-operator"
OPERATOR_UID = 10001  # worker_image/Dockerfile's user


@dataclass(frozen=True)
class NodeUnderTest:
    ready: ProductNode
    kube: Kube
    s3: S3Server
    chart: Path

    @property
    def node(self) -> RealNode:
        return self.ready.node

    @property
    def images(self) -> NodeImages:
        return self.ready.images


@pytest.fixture(scope="module")
def on_node(
    machine_before: dict[str, str], request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NodeUnderTest]:
    chart = prepared_chart(tmp_path_factory.mktemp("chart"))
    if request.config.getoption("cluster") == "node":  # the session's cluster is a real node already: use it
        kube: Kube = request.getfixturevalue("kube")
        assert kube.real_node is not None
        with running_s3_server(host=kube.real_node.node.network.node_ip) as s3:
            yield NodeUnderTest(kube.real_node, kube, s3, chart)
        return
    with node_for_the_product() as ready:
        control_plane = ready.node.control_plane
        assert control_plane is not None
        print(f"real node ready: {', '.join(f'{part} {seconds:.0f} s' for part, seconds in ready.timings.items())}")
        with control_plane.api_client() as api, running_s3_server(host=ready.node.network.node_ip) as s3:
            own = Kube(control_plane.kubeconfig, api, local=False, control_plane=control_plane, real_node=ready)
            yield NodeUnderTest(ready, own, s3, chart)
        assert ready.node.network.guard_drops() == 0, "a packet tried to leave the machine"
    assert ready.node.leftovers() == []
    assert differences(machine_before, machine_state()) == []


@pytest.fixture
def runs_namespace(on_node: NodeUnderTest, request: pytest.FixtureRequest) -> Iterator[str]:
    name = create_namespace(on_node.kube.api, f"runs-{request.node.name}")
    yield name
    delete_namespace(on_node.kube.api, name)


@pytest.fixture
def release(on_node: NodeUnderTest, request: pytest.FixtureRequest) -> Iterator[str]:
    """The release's namespace; the release is uninstalled after the test."""
    name = create_namespace(on_node.kube.api, f"system-{request.node.name}")
    yield name
    helm("uninstall", RELEASE, "-n", name, "--wait", "--ignore-not-found", kubeconfig=on_node.kube.kubeconfig)
    delete_namespace(on_node.kube.api, name)


def install(on_node: NodeUnderTest, namespace: str, *values: str) -> None:
    """The chart, with the images built here and its dask-kubernetes dependency running the controller's image."""
    settings = [
        *on_node.ready.chart_values(),
        "operator.statusIntervalSeconds=1",
        *values,
    ]
    args = [arg for value in settings for arg in ("--set", value)]
    # The CRDs an earlier release kept on uninstall (by design) are taken over, as docs/operator-guide.md says.
    adopt_existing_crds(on_node.kube.api, CHART_CRDS, RELEASE, namespace)
    result = helm(
        "install", RELEASE, str(on_node.chart), "-n", namespace, "--wait", "--timeout", "300s", *args,
        kubeconfig=on_node.kube.kubeconfig,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr + pod_report(on_node.kube, namespace)


def pod_report(kube: Kube, namespace: str) -> str:
    """Each pod's phase and container states, for a failed wait."""
    lines = []
    for pod in client.CoreV1Api(kube.api).list_namespaced_pod(namespace).items:
        status = pod_status(pod)
        states = [(s.name, s.state and s.state.to_dict()) for s in (status.container_statuses or [])]
        lines.append(f"{name_of(pod)}: {status.phase} {states}")
    return "\n" + "\n".join(lines)


def operator_pod(kube: Kube, namespace: str) -> client.V1Pod:
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=retrodiction-operator"
    [pod] = client.CoreV1Api(kube.api).list_namespaced_pod(namespace, label_selector=selector).items
    return pod


def s3_output(on_node: NodeUnderTest, namespace: str, prefix: str) -> dict[str, Any]:
    s3 = on_node.s3
    secret = s3_secret(on_node.kube, namespace, s3)
    bucket = s3.create_bucket(prefix)
    return {
        "uri": f"s3://{bucket}/runs",
        "storageOptions": {"client_kwargs": {"endpoint_url": s3.endpoint_url, "region_name": s3.region}},
        "credentialsSecretRef": {"name": secret},
    }


def logs(kube: Kube, namespace: str, target: str) -> str:
    """`kubectl logs`: the API server fetching a container's log from the kubelet."""
    result = kubectl(kube, "logs", "-n", namespace, target, "--all-containers", "--tail=-1")
    assert result.returncode == 0, result.stderr
    return result.stdout


def dask_pods(kube: Kube, namespace: str, run: str, component: str) -> list[client.V1Pod]:
    selector = f"dask.org/cluster-name={dask_cluster_name(run)},dask.org/component={component}"
    pods: list[client.V1Pod] = client.CoreV1Api(kube.api).list_namespaced_pod(namespace, label_selector=selector).items
    return pods


def test_pods_resolve_service_names_through_cluster_dns_and_nothing_outside_the_cluster(
    on_node: NodeUnderTest, runs_namespace: str
) -> None:
    kube = on_node.kube
    script = (
        "import socket\n"
        "for name in ('kubernetes.default', 'kubernetes.default.svc.cluster.local', 'kube-dns.kube-system',\n"
        "             'pypi.org', 'example.com'):\n"
        "    try:\n"
        "        print(name, socket.gethostbyname(name))\n"
        "    except OSError as error:\n"
        "        print(name, 'unresolved', type(error).__name__)\n"
    )
    pod = {
        "metadata": {"name": "resolver"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "resolve", "image": on_node.images.worker, "command": ["python", "-c", script]}],
        },
    }
    core = client.CoreV1Api(kube.api)
    core.create_namespaced_pod(runs_namespace, pod)  # type: ignore[arg-type]  # a raw pod, as sent
    eventually(
        lambda: pod_status(core.read_namespaced_pod("resolver", runs_namespace)).phase in ("Succeeded", "Failed"),
        "the resolver pod to finish",
        lambda: pod_report(kube, runs_namespace),
        timeout=120,
    )
    printed = logs(kube, runs_namespace, "pod/resolver")
    answers = dict(line.split(" ", 1) for line in printed.splitlines() if " " in line)
    network = on_node.node.network
    expected = {
        "kubernetes.default": network.kubernetes_service_ip,
        "kubernetes.default.svc.cluster.local": network.kubernetes_service_ip,
        "kube-dns.kube-system": network.dns_service_ip,
    }
    assert {name: answers.get(name) for name in expected} == expected, printed
    assert answers["pypi.org"].startswith("unresolved") and answers["example.com"].startswith("unresolved"), printed
    assert pod_status(core.read_namespaced_pod("resolver", runs_namespace)).phase == "Succeeded"
    assert network.guard_drops() == 0


def test_the_chart_runs_the_operator_from_its_image_and_a_daskcluster_run_survives_losing_a_worker_and_the_operator(
    on_node: NodeUnderTest, release: str, runs_namespace: str
) -> None:
    kube = on_node.kube
    install(on_node, release)
    operator = operator_pod(kube, release)
    [container] = pod_containers(operator)
    assert container.image == on_node.images.operator
    assert container.security_context is not None and container.security_context.read_only_root_filesystem is True
    # What the container really runs as, seen from inside it (`kubectl exec`: API server -> kubelet -> containerd).
    target = f"deploy/{FULLNAME}"
    uid = kubectl(kube, "exec", "-n", release, target, "--", "id", "-u")
    assert uid.returncode == 0 and uid.stdout.strip() == str(OPERATOR_UID), uid.stderr
    write = kubectl(kube, "exec", "-n", release, target, "--", "touch", "/opt/venv/written")
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write
    # The dask-kubernetes controller runs as a pod from the image built here at the lock's version.
    dask_version = locked_version("dask-kubernetes")
    [controller] = (
        client.CoreV1Api(kube.api)
        .list_namespaced_pod(release, label_selector="app.kubernetes.io/name=dask-kubernetes-operator")
        .items
    )
    controller_image = pod_containers(controller)[0].image
    assert controller_image == on_node.images.dask_controller
    assert controller_image.endswith(f":{dask_version}")

    body = weekly_co2_run("on-node", dask=ON_DASKCLUSTER, output=s3_output(on_node, runs_namespace, "node"))
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, runs_namespace, PLURAL, body)
    wait_for_progress(kube, runs_namespace, "on-node", at_least=50, timeout=300)
    scheduler, workers = (dask_pods(kube, runs_namespace, "on-node", c) for c in ("scheduler", "worker"))
    assert scheduler and workers
    for pod in [*scheduler, *workers]:
        assert pod_containers(pod)[0].image == on_node.images.worker
        assert pod_status(pod).host_ip == on_node.node.network.node_ip
    # A worker pod, then the operator pod, deleted mid-run.
    core = client.CoreV1Api(kube.api)
    core.delete_namespaced_pod(name_of(workers[0]), runs_namespace, grace_period_seconds=0)
    progress = wait_for_progress(kube, runs_namespace, "on-node", at_least=400, timeout=300)
    core.delete_namespaced_pod(name_of(operator), release, grace_period_seconds=0)
    eventually(
        lambda: any(
            name_of(pod) != name_of(operator) and pod_status(pod).phase == "Running"
            for pod in core.list_namespaced_pod(release, label_selector=f"app.kubernetes.io/instance={RELEASE}").items
        ),
        "a new operator pod",
        lambda: pod_report(kube, release),
        timeout=120,
    )
    run = wait_for_phase(kube, runs_namespace, "on-node", {"Succeeded", "Failed"}, timeout=600)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    batches = run["status"]["batches"]
    assert batches["succeeded"] == batches["total"] > progress["batches"]["succeeded"] and batches["failed"] == 0
    assert_same_results(on_node.s3.read_json(run["status"]["summaryRef"]["uri"])["results"], cli_results(body))

    # Logs through the API server: the operator's (the replacement pod's) and the run's driver.
    operator_log = logs(kube, release, f"deploy/{FULLNAME}")
    assert f"[{runs_namespace}/on-node]" in operator_log, operator_log[-3000:]  # each line names its run
    driver_log = logs(kube, runs_namespace, f"job/{driver_job_name('on-node')}")
    assert driver_log.strip(), "the driver wrote nothing"
    assert on_node.node.network.guard_drops() == 0


def test_the_chart_with_namespaced_permissions_runs_a_run_in_its_driver_pod(
    on_node: NodeUnderTest, release: str, runs_namespace: str
) -> None:
    kube = on_node.kube
    install(on_node, release, "rbac.cluster=false", f"watchNamespaces={{{runs_namespace}}}")
    body = training("in-driver", variables=["cpi", "unemp"])
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, runs_namespace, PLURAL, body)
    # The driver's log is readable as soon as its pod runs, not only once it is done.
    core = client.CoreV1Api(kube.api)
    selector = f"job-name={driver_job_name('in-driver')}"
    eventually(
        lambda: any(pod_status(p).phase in ("Running", "Succeeded") for p in core.list_namespaced_pod(
            runs_namespace, label_selector=selector).items),
        "the driver pod to run",
        lambda: pod_report(kube, runs_namespace),
        timeout=180,
    )  # fmt: skip
    started = time.monotonic()
    while not logs(kube, runs_namespace, f"job/{driver_job_name('in-driver')}").strip():
        assert time.monotonic() - started < 60, "the running driver's log stayed empty"
        time.sleep(1)
    run = wait_for_phase(kube, runs_namespace, "in-driver", {"Succeeded", "Failed"}, timeout=300)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    summary, _ = stored_summary(kube, runs_namespace, run)
    assert_same_results(summary["results"], cli_results(body))
    [driver] = core.list_namespaced_pod(runs_namespace, label_selector=selector).items
    assert pod_containers(driver)[0].image == on_node.images.worker
    assert logs(kube, release, f"deploy/{FULLNAME}").strip()
