"""The real node: the local control plane on the bridge address, containerd, kubelet and kube-scheduler.

    with RealNode(base) as node:       # base: <cache>/node, reused and cleaned on every start
        node.control_plane.kubeconfig  # the admin kubeconfig

Starting first removes whatever a previous run left (it may have been killed), then brings the network and its
guard up before anything else. Stopping stops the processes, removes every container, mount, cgroup and directory
the node made, and takes the network down; `leftovers()` says what would still be there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client

from retrodiction_harness.binaries import ensure_bin_dir, pinned_versions
from retrodiction_harness.controlplane import NODE_CONTROLLERS, ControlPlane, Layout
from retrodiction_harness.ports import free_ports
from retrodiction_harness.realnode import kubelet as kubelet_files
from retrodiction_harness.realnode import teardown
from retrodiction_harness.realnode.containerd import SANDBOX_IMAGE, Containerd, ContainerdPaths
from retrodiction_harness.realnode.network import NodeNetwork, cni_config
from retrodiction_harness.realnode.pause import build_pause_archive, pause_source
from retrodiction_harness.realnode.proxy import write_proxy_config
from retrodiction_harness.repo import REPO_ROOT

NODE_READY_TIMEOUT = 90.0


def node_bin_dir() -> Path:
    """kubelet, kube-proxy and kube-scheduler, built (once) from the control plane's Go module."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "controlplane" / "build.sh"), "--node"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the node's binaries failed:\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def k8s_version() -> str:
    return pinned_versions()["K8S_VERSION"]


class RealNode:
    def __init__(self, base: Path, network: NodeNetwork | None = None) -> None:
        self.base = base
        self.network = network or NodeNetwork()
        self.containerd_paths = ContainerdPaths(base)
        self.kubelet_paths = kubelet_files.KubeletPaths(base)
        self.control_plane: ControlPlane | None = None
        self.containerd: Containerd | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def __enter__(self) -> RealNode:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        node_bin = node_bin_dir()
        teardown.clean(self.base)  # the network: `up` below takes down what a dead run left
        # A dead run's pods and sandboxes mean nothing to a new control plane; images (containerd's root) stay.
        for stale in (self.kubelet_paths.root, self.containerd_paths.state, self.base / "cni", self.base / "logs"):
            shutil.rmtree(stale, ignore_errors=True)
        teardown.record_machine(self.base)
        self.network.up()
        self.control_plane = ControlPlane(
            ensure_bin_dir(allow_build=False),
            self.base / "control-plane",
            keep_workdir=True,
            layout=Layout(self.network.node_ip, self.network.service_cidr, NODE_CONTROLLERS),
        )
        self.control_plane.start()
        self._grant_kubelet_api()
        self.containerd_paths.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        (self.containerd_paths.cni_conf_dir / "10-rtnode.conflist").write_text(
            json.dumps(cni_config(self.network, self.base / "cni"))
        )
        self.containerd = Containerd(self.containerd_paths).__enter__()
        self.containerd.import_image(
            build_pause_archive(pause_source(k8s_version()), self.base / "images"), SANDBOX_IMAGE
        )
        self._start_kubelet(node_bin)
        self._start_scheduler(node_bin)
        self._start_proxy(node_bin)
        self._wait_ready()

    def stop(self) -> None:
        for name in ("kube-proxy", "kube-scheduler", "kubelet"):
            process = self.processes.pop(name, None)
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if self.containerd is not None:
            self.containerd.stop()
            self.containerd = None
        if self.control_plane is not None:
            self.control_plane.stop()
            self.control_plane = None
        teardown.clean(self.base)
        self.network.down()

    def leftovers(self) -> list[str]:
        return teardown.leftovers(self.base) + self.network.leftovers()

    # -- parts ----------------------------------------------------------------------------------------------------

    def _grant_kubelet_api(self) -> None:
        """The API server's kubelet client may use the kubelet API (logs, exec), as kubeadm grants it."""
        assert self.control_plane is not None
        binding: dict[str, Any] = {
            "metadata": {"name": "kube-apiserver-kubelet-api-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:kubelet-api-admin",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kube-apiserver-kubelet-client"}
            ],
        }
        with self.control_plane.api_client() as api:
            client.RbacAuthorizationV1Api(api).create_cluster_role_binding(binding)  # type: ignore[arg-type]

    def _spawn(self, name: str, argv: list[str]) -> None:
        log_path = self.base / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _start_kubelet(self, node_bin: Path) -> None:
        assert self.control_plane is not None
        paths = self.kubelet_paths
        self.control_plane.write_kubeconfig(
            paths.kubeconfig, f"system:node:{kubelet_files.NODE_NAME}", ["system:nodes"]
        )
        kubelet_files.prepare_root(paths)
        kubelet_files.write_config(paths, self.network, self.control_plane.ca_file)
        argv = [str(node_bin / "kubelet"), *kubelet_files.kubelet_args(paths, self.containerd_paths, self.network)]
        self._spawn("kubelet", kubelet_files.shielded_command(paths, argv))

    def _start_scheduler(self, node_bin: Path) -> None:
        assert self.control_plane is not None
        kubeconfig = self.control_plane.write_kubeconfig(self.base / "scheduler.kubeconfig", "system:kube-scheduler")
        argv = [
            str(node_bin / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
        ]
        self._spawn("kube-scheduler", argv)

    def _start_proxy(self, node_bin: Path) -> None:
        assert self.control_plane is not None
        kubeconfig = self.control_plane.write_kubeconfig(self.base / "kube-proxy.kubeconfig", "system:kube-proxy")
        [metrics_port] = free_ports(1)
        config = write_proxy_config(self.base / "kube-proxy.yaml", self.network, kubeconfig, metrics_port)
        self._spawn("kube-proxy", [str(node_bin / "kube-proxy"), f"--config={config}"])

    def _wait_ready(self) -> None:
        assert self.control_plane is not None
        deadline = time.monotonic() + NODE_READY_TIMEOUT
        with self.control_plane.api_client() as api:
            core = client.CoreV1Api(api)
            while time.monotonic() < deadline:
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.returncode}; see {self.base / 'logs'}")
                for node in core.list_node().items:
                    conditions = (node.status.conditions if node.status else None) or []
                    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
                    if ready and node.spec is not None and not node.spec.taints:
                        return
                time.sleep(0.5)
        raise RuntimeError(f"the node was not Ready within {NODE_READY_TIMEOUT:.0f} s; see {self.base / 'logs'}")
