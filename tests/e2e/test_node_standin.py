"""The node stand-in runs pods as local processes: Deployments become available, Service names resolve to ready
endpoints, crashed containers restart, deleted pods' processes die, pods act as their ServiceAccount; and the
`up` command serves all of it to people.

These tests are about the stand-in itself, so they run with --cluster=local only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

from retrodiction_harness.cluster import Kube
from retrodiction_harness.node import NodeStandIn
from retrodiction_harness.node_api import KubeRest
from retrodiction_harness.node_endpoints import service_endpoint
from retrodiction_harness.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
# `python -m http.server` would look up the name of the address it binds (socket.getfqdn), a DNS query this
# machine must not send; a TCPServer with the same handler does not.
HTTP_SERVER = (
    "import http.server as h, socketserver as s, sys; s.ThreadingTCPServer.allow_reuse_address = True; "
    "s.ThreadingTCPServer((sys.argv[1], int(sys.argv[2])), h.SimpleHTTPRequestHandler).serve_forever()"
)


@pytest.fixture
def stand_in(node: NodeStandIn | None) -> NodeStandIn:
    if node is None:
        pytest.skip("the node stand-in runs only with --cluster=local")
    return node


def pod_manifest(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11-slim", "command": command}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def deploy_web(rest: KubeRest, namespace: str) -> None:
    """A Deployment serving HTTP on its pod address, port 8080, behind Service `web` port 80."""
    labels = {"app": "web"}
    container = {
        "name": "web",
        "image": "python:3.11-slim",
        "command": ["python", "-c", HTTP_SERVER, "0.0.0.0", "8080"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    rest.create(f"/api/v1/namespaces/{namespace}/services", service)
    rest.create(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment)


def pods_path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/pods" + (f"/{name}" if name else "")


def status(rest: KubeRest, namespace: str, pod: str) -> dict[str, Any]:
    found: dict[str, Any] = rest.get(pods_path(namespace, pod)).get("status") or {}
    return found


def first_container(rest: KubeRest, namespace: str, pod: str) -> dict[str, Any]:
    statuses: list[dict[str, Any]] = status(rest, namespace, pod).get("containerStatuses") or [{}]
    return statuses[0]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_deployment_of_a_python_http_server_becomes_available_on_its_own_pod_address(
    kube: Kube, stand_in: NodeStandIn, namespace: str
) -> None:
    rest = KubeRest(kube.api)
    deploy_web(rest, namespace)
    eventually(
        lambda: (
            rest.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/web")["status"].get("availableReplicas") == 1
        ),
        "Deployment web to have 1 available replica",
    )
    [pod] = rest.list_items(pods_path(namespace), {"labelSelector": "app=web"})
    pod_ip = pod["status"]["podIP"]
    assert pod["spec"]["nodeName"] == stand_in.name
    assert pod_ip.startswith(f"{stand_in.address_prefix}.")
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    # The Service's ready endpoint is that pod, with the named target port resolved.
    assert service_endpoint(kube.api, namespace, "web", 80) == f"{pod_ip}:8080"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{pod_ip}:8080/", timeout=10) as response:
        assert response.status == 200


def test_a_service_url_in_env_waits_for_a_ready_endpoint_then_resolves_to_it(
    kube: Kube, stand_in: NodeStandIn, namespace: str
) -> None:
    rest = KubeRest(kube.api)
    url = f"http://web.{namespace}.svc.cluster.local:80/"
    fetch = "import os, urllib.request; print(os.environ['URL']); urllib.request.urlopen(os.environ['URL'], timeout=10)"
    env = [{"name": "URL", "value": url}]
    rest.create(
        pods_path(namespace),
        pod_manifest("fetch", ["python", "-c", fetch], restartPolicy="Never", container={"env": env}),
    )
    # No Service yet: the container waits, as a pod whose DNS name does not resolve yet would.
    eventually(
        lambda: (
            first_container(rest, namespace, "fetch").get("state", {}).get("waiting", {}).get("reason")
            == "ServiceNotReady"
        ),
        "the fetch pod to wait for Service web",
    )
    deploy_web(rest, namespace)
    phase = eventually(
        lambda: (
            status(rest, namespace, "fetch").get("phase") in ("Succeeded", "Failed")
            and status(rest, namespace, "fetch")["phase"]
        ),
        "the fetch pod to finish",
    )
    log = stand_in.log_path(namespace, "fetch", "main").read_text()
    assert phase == "Succeeded", log
    [web] = rest.list_items(pods_path(namespace), {"labelSelector": "app=web"})
    assert log.strip() == f"http://{web['status']['podIP']}:8080/"


@pytest.mark.parametrize(
    ("handles_sigterm", "grace"),
    [(True, 30), (False, 1)],
    ids=["exits-on-sigterm", "killed-after-grace"],
)
def test_deleting_a_pod_stops_its_process_and_removes_the_object(
    kube: Kube, stand_in: NodeStandIn, namespace: str, handles_sigterm: bool, grace: int
) -> None:
    rest = KubeRest(kube.api)
    ignore = "" if handles_sigterm else "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    command = ["python", "-c", f"{ignore}import time; time.sleep(600)"]
    rest.create(pods_path(namespace), pod_manifest("sleeper", command, terminationGracePeriodSeconds=grace))
    eventually(lambda: status(rest, namespace, "sleeper").get("phase") == "Running", "the pod to run")
    pid = stand_in.pids(namespace, "sleeper")["main"]
    assert pid_alive(pid)
    began = time.monotonic()
    rest.delete(pods_path(namespace, "sleeper"))
    eventually(lambda: rest.get_or_none(pods_path(namespace, "sleeper")) is None, "the pod object to be deleted")
    assert not pid_alive(pid)
    # SIGTERM ends the first at once; the second outlives SIGTERM until the 1 s grace period is over.
    assert time.monotonic() - began < 15


def test_a_crashing_container_is_restarted_with_back_off(kube: Kube, stand_in: NodeStandIn, namespace: str) -> None:
    rest = KubeRest(kube.api)
    rest.create(pods_path(namespace), pod_manifest("crasher", ["python", "-c", "raise SystemExit(3)"]))
    container = eventually(
        lambda: (found := first_container(rest, namespace, "crasher")).get("restartCount", 0) >= 1 and found,
        "the container to be restarted",
    )
    assert container["lastState"]["terminated"]["exitCode"] == 3
    assert status(rest, namespace, "crasher")["phase"] == "Running"


def test_a_pods_processes_act_as_its_service_account(kube: Kube, stand_in: NodeStandIn, namespace: str) -> None:
    """KUBECONFIG in a pod carries a token of the pod's ServiceAccount, so RBAC applies as in a cluster."""
    rest = KubeRest(kube.api)
    whoami = (
        "from kubernetes import client, config; config.load_kube_config(); "
        "review = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview'}; "
        "print(client.AuthenticationV1Api().create_self_subject_review(review).status.user_info.username)"
    )
    rest.create(pods_path(namespace), pod_manifest("whoami", ["python", "-c", whoami], restartPolicy="Never"))
    phase = eventually(
        lambda: (
            status(rest, namespace, "whoami").get("phase") in ("Succeeded", "Failed")
            and status(rest, namespace, "whoami")["phase"]
        ),
        "the whoami pod to finish",
    )
    log = stand_in.log_path(namespace, "whoami", "main").read_text()
    assert phase == "Succeeded", log
    assert log.strip() == f"system:serviceaccount:{namespace}:default"


def test_the_cluster_command_serves_a_cluster_with_the_node_and_crds_until_interrupted(
    stand_in: NodeStandIn, tmp_path: Path
) -> None:
    """`retrodiction-cluster` (`make local-cluster`), the command for people, as a person would use it."""
    up = subprocess.Popen(
        [str(Path(sys.executable).parent / "retrodiction-cluster"), "--workdir", str(tmp_path / "up")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    children: list[psutil.Process] = []
    try:
        assert up.stdout is not None
        lines: list[str] = []
        for line in up.stdout:
            lines.append(line)
            if line.startswith("export KUBECONFIG="):
                break
        else:
            raise AssertionError("up ended before printing the kubeconfig:\n" + "".join(lines))
        kubeconfig = Path(line.strip().removeprefix("export KUBECONFIG="))
        children = psutil.Process(up.pid).children(recursive=True)
        with KubeRest.from_kubeconfig(kubeconfig) as rest:
            [node] = rest.list_items("/api/v1/nodes")
            assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
            crds = {crd["metadata"]["name"] for crd in rest.list_items(CRDS_PATH)}
            assert {"daskclusters.kubernetes.dask.org", "retrodictiontrainings.training.retrodiction.dev"} <= crds
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left behind: {alive}"
