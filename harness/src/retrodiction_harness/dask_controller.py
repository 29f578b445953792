"""The real dask-kubernetes controller, run by Kopf from the installed package, with its CRDs from the package.

Out of a cluster the controller only dials a scheduler to retire workers (scale down), for idle checks
(spec.idleTimeout) and for autoscaling, each time first resolving `<cluster>-scheduler.<ns>` with the machine's
resolver: the tests use none of these, so the controller talks to the API server only.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from kubernetes import client

from retrodiction_harness.chart import helm, vendored_dask_chart
from retrodiction_harness.cluster import Kube
from retrodiction_harness.node_api import KubeRest
from retrodiction_harness.ports import free_ports
from retrodiction_harness.processes import ManagedProcess
from retrodiction_harness.realnode.product import ProductNode
from retrodiction_harness.up import dask_kubernetes_crd_paths, install_crds

VENV_BIN = Path(sys.prefix) / "bin"


def install_missing_dask_crds(api: client.ApiClient) -> None:
    """The package's CRDs, unless the cluster has them already (e.g. from the dask-kubernetes Helm chart)."""
    crds = KubeRest(api).list_items("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    existing = {crd["metadata"]["name"] for crd in crds}
    paths = dask_kubernetes_crd_paths()
    missing = [path for path in paths if yaml.safe_load(path.read_text())["metadata"]["name"] not in existing]
    install_crds(api, missing)


@contextmanager
def dask_kubernetes_controller(kubeconfig: Path, workdir: Path, timeout: float = 60.0) -> Iterator[ManagedProcess]:
    port = free_ports(1)[0]
    # A clean environment: the admin kubeconfig and nothing from the caller's shell (proxies, a real KUBECONFIG).
    env = {
        "KUBECONFIG": str(kubeconfig),
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        str(VENV_BIN / "kopf"),
        "run",
        "-m",
        "dask_kubernetes.operator.controller",
        "--all-namespaces",
        "--standalone",
        f"--liveness=http://127.0.0.1:{port}/healthz",
    ]
    controller = ManagedProcess("dask-kubernetes-controller", command, workdir / "controller.log", env)
    controller.start()
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while True:
            try:
                with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if not controller.running():
                    raise AssertionError(f"the dask-kubernetes controller exited:\n{controller.log_tail()}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"the dask-kubernetes controller did not start:\n{controller.log_tail()}")
            time.sleep(0.5)
        yield controller
    finally:
        controller.stop(grace_seconds=15)


DASK_RELEASE, DASK_NAMESPACE = "dask", "dask-operator"


def install_dask_controller_chart(kube: Kube, ready: ProductNode, workdir: Path) -> None:
    """The controller as a pod on the real node: the wheel's chart with the image built here, plus the finalizer
    rule the retrodiction chart adds beside it (templates/dask-operator-finalizers.yaml), without which
    OwnerReferencesPermissionEnforcement refuses every child of a DaskCluster."""
    client.CoreV1Api(kube.api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=DASK_NAMESPACE)))
    controller, tag = ready.images.dask_controller.rsplit(":", 1)
    result = helm(
        "install", DASK_RELEASE, str(vendored_dask_chart(workdir)), "-n", DASK_NAMESPACE, "--wait",
        "--set", f"image.name={controller}", "--set", f"image.tag={tag}",
        kubeconfig=kube.kubeconfig,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"installing the dask-kubernetes chart failed:\n{result.stderr}")
    name = f"{DASK_RELEASE}-dask-kubernetes-operator"
    rbac = client.RbacAuthorizationV1Api(kube.api)
    metadata = client.V1ObjectMeta(name=f"{name}-finalizers")
    rbac.create_cluster_role(
        client.V1ClusterRole(
            metadata=metadata,
            rules=[
                client.V1PolicyRule(
                    api_groups=["kubernetes.dask.org"],
                    resources=["daskclusters/finalizers", "daskworkergroups/finalizers", "daskjobs/finalizers"],
                    verbs=["update"],
                )
            ],
        )
    )
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=metadata,
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=metadata.name),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=DASK_NAMESPACE)],
        )
    )
