"""A local Kubernetes for people: control plane + node stand-in + CRDs + dask-kubernetes, until Ctrl-C.

    retrodiction-cluster [--workdir DIR] [--node standin|real]   (make local-cluster [NODE=real])

Starts etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 (binaries from
`bash hack/controlplane/build.sh`), the node stand-in (pods run as local processes, see node.py), installs every
CRD in the repository's crds/ and the dask-kubernetes CRDs of the installed package, prints the kubeconfig path,
then runs until interrupted (SIGINT/SIGTERM) and stops everything it started. Then, in another shell:

    export KUBECONFIG=<printed path>
    kubectl get nodes
    RETRODICTION_POLICY='{"uriSchemes": ["builtin", "s3", "file"]}' retrodiction operator --all-namespaces
    kubectl apply -f examples/training-macrodata.yaml

No Docker is needed, and nothing leaves 127.0.0.0/8: pods get addresses 127.0.0.N and reach Services through their
ready endpoints, never through ClusterIPs.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from kubernetes.client import ApiClient

from retrodiction_harness.binaries import BinariesUnavailableError, ensure_bin_dir
from retrodiction_harness.controlplane import ControlPlane
from retrodiction_harness.node import NodeStandIn
from retrodiction_harness.node_api import ApiError, KubeRest
from retrodiction_harness.repo import REPO_ROOT

log = logging.getLogger("retrodiction_harness.up")

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def repo_crd_paths(repo: Path = REPO_ROOT) -> list[Path]:
    crds = repo / "crds"
    return sorted([*crds.glob("*.yaml"), *crds.glob("*.yml")]) if crds.is_dir() else []


def dask_kubernetes_crd_paths() -> list[Path]:
    """The resolved CRDs shipped in the dask-kubernetes wheel (its helm chart's crds/ folder)."""
    spec = importlib.util.find_spec("dask_kubernetes")
    if spec is None or spec.origin is None:
        raise RuntimeError("dask-kubernetes is not installed")
    folder = Path(spec.origin).parent / "operator" / "deployment" / "helm" / "dask-kubernetes-operator" / "crds"
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise RuntimeError(f"no CRDs in {folder}")
    return paths


def _crd_documents(paths: Sequence[Path]) -> list[dict[str, Any]]:
    documents = []
    for path in paths:
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                documents.append(document)
    return documents


def install_crds(api: ApiClient, paths: Sequence[Path], timeout: float = 60.0) -> list[str]:
    """Create or update every CRD in `paths` and wait until the API server serves them; returns their names."""
    rest = KubeRest(api)  # borrows the caller's client: not closed here
    names = []
    for crd in _crd_documents(paths):
        name = crd["metadata"]["name"]
        try:
            rest.create(CRD_PATH, crd)
        except ApiError as error:
            if error.status != 409:
                raise
            current = rest.get(f"{CRD_PATH}/{name}")
            version = current["metadata"]["resourceVersion"]
            rest.replace(f"{CRD_PATH}/{name}", {**crd, "metadata": {**crd["metadata"], "resourceVersion": version}})
        names.append(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            conditions = rest.get(f"{CRD_PATH}/{name}").get("status", {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not established within {timeout:.0f} s")
            time.sleep(0.2)
    return names


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="retrodiction-cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where certificates, the kubeconfig, etcd data and pod logs go (default: a new temporary folder, "
        "removed at exit; a given folder is kept)",
    )
    parser.add_argument("--node-name", default="standin-0")
    parser.add_argument(
        "--node",
        choices=("standin", "real"),
        default="standin",
        help="standin (default): pods run as local processes; real: kubelet, containerd and runc on a guarded "
        "bridge, CoreDNS and the images built from worker_image/Dockerfile (root and `make node-deps`)",
    )
    parser.add_argument(
        "--build", action="store_true", help="build the control-plane binaries if missing (tens of minutes)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every pod start and stop")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.node == "real":
        return _run_real_node(_stop_on_signals())
    try:
        bin_dir = ensure_bin_dir(allow_build=args.build)
    except BinariesUnavailableError as error:
        print(f"error: {error}\n(build them with `bash hack/controlplane/build.sh`, or pass --build)", file=sys.stderr)
        return 2
    keep = args.workdir is not None
    workdir: Path = args.workdir.resolve() if keep else Path(tempfile.mkdtemp(prefix="retrodiction-up-"))

    stop = _stop_on_signals()
    try:
        return _run(bin_dir, workdir, keep, args.node_name, stop)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def _run_real_node(stop: threading.Event) -> int:
    # Imported here: the real node needs root and its packages, the stand-in neither.
    from retrodiction_harness.chart import prepared_chart
    from retrodiction_harness.realnode.product import node_for_the_product

    with node_for_the_product() as ready:
        node, control_plane = ready.node, ready.node.control_plane
        assert control_plane is not None
        chart = prepared_chart(Path(tempfile.mkdtemp(prefix="retrodiction-chart-")))
        values = " ".join(f"--set {value}" for value in ready.chart_values())
        print(
            f"real node ready ({', '.join(f'{part} {seconds:.0f} s' for part, seconds in ready.timings.items())}): "
            f"API server {control_plane.server}, pods on {node.network.pod_cidr}, Services on "
            f"{node.network.service_cidr}, cluster DNS {node.network.dns_service_ip}\n"
            f"images: {', '.join(ready.images.archives)}\n"
            f"logs: {node.base / 'logs'}\n\n"
            f"export KUBECONFIG={control_plane.kubeconfig}\n"
            f"helm install retro {chart} -n retrodiction-system --create-namespace {values}\n"
            "kubectl apply -f examples/training-macrodata.yaml\n\n"
            "Ctrl-C stops everything and leaves the machine as it was.",
            flush=True,
        )
        while not stop.wait(1.0):
            dead = [name for name, process in node.processes.items() if process.poll() is not None]
            if dead:
                print(f"error: {', '.join(dead)} exited; logs in {node.base / 'logs'}", file=sys.stderr)
                return 1
        print("stopping...", flush=True)
    return 0


def _run(bin_dir: Path, workdir: Path, keep: bool, node_name: str, stop: threading.Event) -> int:
    # Imported here: the controller harness itself uses this module's CRD helpers.
    from retrodiction_harness.crds import apply_driver_cluster_role
    from retrodiction_harness.dask_controller import dask_kubernetes_controller

    began = time.monotonic()
    (workdir / "dask-controller").mkdir(parents=True, exist_ok=True)
    with (
        ControlPlane(bin_dir, workdir / "controlplane", keep_workdir=keep) as control_plane,
        NodeStandIn(control_plane.kubeconfig, workdir / "node", name=node_name) as node,
        control_plane.api_client() as api,
    ):
        crds = install_crds(api, [*repo_crd_paths(), *dask_kubernetes_crd_paths()])
        apply_driver_cluster_role(api)
        with dask_kubernetes_controller(control_plane.kubeconfig, workdir / "dask-controller") as controller:
            print(
                f"local Kubernetes ready in {time.monotonic() - began:.1f} s: API server {control_plane.server}, "
                f"node {node.name} (pod addresses {node.address_prefix}.N), dask-kubernetes controller running\n"
                f"CRDs: {', '.join(crds)}\n"
                f"kubectl: {bin_dir / 'kubectl'}\n"
                f"pod logs: {node.workdir / 'pods'}/<namespace>_<pod>_<uid>/logs/<container>/<restart>.log\n"
                f"kubeconfig: {control_plane.kubeconfig}\n\n"
                f"export KUBECONFIG={control_plane.kubeconfig}\n"
                "retrodiction operator -A   # then the operator (each run's driver runs as a pod here)\n\n"
                "Ctrl-C stops everything.",
                flush=True,
            )
            while not stop.wait(1.0):
                dead = [p.name for p in control_plane.processes if p.exit_code() is not None]
                if not controller.running():
                    dead.append("the dask-kubernetes controller")
                if dead:
                    print(f"error: {', '.join(dead)} exited; logs in {workdir}", file=sys.stderr)
                    return 1
            print("stopping...", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
