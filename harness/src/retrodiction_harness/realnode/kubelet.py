"""kubelet for the real node: its configuration, credentials and the mount namespace that shields the machine.

kubelet sets kernel tunables it considers its own (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops,
kernel.keys.*) on the shared machine; it runs in a mount namespace of its own where those /proc/sys files are
covered by bind mounts of private copies, so its writes land there. Its root directory is a shared bind mount, so
the volumes it mounts for pods (Secrets, projected tokens) propagate to the machine's namespace where containerd
and runc see them.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from retrodiction_harness.realnode.containerd import ContainerdPaths
from retrodiction_harness.realnode.network import NodeNetwork

NODE_NAME = "rtnode"
# What kubelet would rewrite on the machine (pkg/kubelet/cm/container_manager_linux.go setupKernelTunables).
SHADOWED_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


@dataclass(frozen=True)
class KubeletPaths:
    base: Path  # <cache>/node

    @property
    def root(self) -> Path:
        return self.base / "kubelet"

    @property
    def config(self) -> Path:
        return self.base / "kubelet-config.yaml"

    @property
    def kubeconfig(self) -> Path:
        return self.base / "kubelet.kubeconfig"

    @property
    def resolv_conf(self) -> Path:
        return self.base / "resolv.conf"

    @property
    def shadows(self) -> Path:
        return self.base / "sysctl-shadows"

    @property
    def pod_logs(self) -> Path:
        return self.base / "pod-logs"

    @property
    def log(self) -> Path:
        return self.base / "logs" / "kubelet.log"


def kubelet_config(paths: KubeletPaths, network: NodeNetwork, client_ca: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": network.node_ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        # cgroup v1 on these machines: kubelet 1.35 refuses it unless told.
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [network.dns_service_ip],
        "clusterDomain": "cluster.local",
        # Pods with dnsPolicy Default read this: no upstream resolver, nothing leaves the machine.
        "resolvConf": str(paths.resolv_conf),
        "podLogsDir": str(paths.pod_logs),
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "serializeImagePulls": False,
        # Images are imported, never pulled: garbage collection would delete what cannot come back.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "containerLogMaxSize": "10Mi",
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "localStorageCapacityIsolation": True,
        "enforceNodeAllocatable": ["pods"],
        "registerNode": True,
        "maxPods": 60,
        "shutdownGracePeriod": "0s",
    }


def kubelet_args(paths: KubeletPaths, containerd: ContainerdPaths, network: NodeNetwork) -> list[str]:
    return [
        f"--config={paths.config}",
        f"--kubeconfig={paths.kubeconfig}",
        f"--root-dir={paths.root}",
        f"--container-runtime-endpoint=unix://{containerd.socket}",
        f"--node-ip={network.node_ip}",
        f"--hostname-override={NODE_NAME}",
        "--v=1",
    ]


def shielded_command(paths: KubeletPaths, command: list[str]) -> list[str]:
    """`command` in a new mount namespace where the tunables kubelet writes are private files, and its root
    directory is shared with the machine's namespace (set up by `prepare_root`)."""
    binds = []
    for name in SHADOWED_SYSCTLS:
        copy = paths.shadows / name.replace("/", ".")
        binds.append(f"mount --bind {copy} /proc/sys/{name}")
    script = " && ".join([*binds, 'exec "$@"'])
    return ["unshare", "--mount", "--propagation", "unchanged", "--", "sh", "-c", script, "kubelet", *command]


def prepare_root(paths: KubeletPaths) -> None:
    """kubelet's root as a shared bind mount of itself, and private copies of the tunables it writes."""
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.shadows.mkdir(parents=True, exist_ok=True)
    for name in SHADOWED_SYSCTLS:
        source = Path("/proc/sys") / name
        (paths.shadows / name.replace("/", ".")).write_text(source.read_text())
    if not is_mount_point(paths.root):
        subprocess.run(["mount", "--bind", str(paths.root), str(paths.root)], check=True)
    subprocess.run(["mount", "--make-shared", str(paths.root)], check=True)
    paths.resolv_conf.write_text("# the node's pods resolve cluster names only (CoreDNS forwards nowhere)\n")


def is_mount_point(path: Path) -> bool:
    target = str(path.resolve())
    return any(line.split()[4] == target for line in Path("/proc/self/mountinfo").read_text().splitlines())


def write_config(paths: KubeletPaths, network: NodeNetwork, client_ca: Path) -> None:
    paths.config.write_text(yaml.safe_dump(kubelet_config(paths, network, client_ca), sort_keys=False))
