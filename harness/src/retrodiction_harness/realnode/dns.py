"""Cluster DNS for the real node: CoreDNS built here, and the kube-system objects a cluster runs it with.

CoreDNS comes from the Go module in hack/coredns (a trimmed plugin set; hack/coredns/build.sh builds it once into
the project's cache), packed with umoci as an image holding the static binary alone (user 65532, entrypoint
`/coredns -conf /etc/coredns/Corefile`), cached by the hash of what goes into it. The result is an OCI archive
`ctr images import` takes, under the name COREDNS_IMAGE.

The Corefile serves the cluster's zones and nothing else: no `forward` plugin, no upstream resolver, so nothing
ever leaves the machine. A name outside the cluster domain is answered REFUSED at once (no server block has its
zone), an address outside the cluster's in the reverse zones NXDOMAIN. `loop` only detects forwarding loops, so
it is left out with `forward`. CoreDNS listens on port 1053 inside its pod and the Service maps 53 to it: the
container needs no capability at all.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path
from typing import Any, Final

from kubernetes import utils
from kubernetes.client import ApiClient, AppsV1Api

from retrodiction_harness.binaries import project_cache_dir
from retrodiction_harness.realnode.containerd import Containerd
from retrodiction_harness.realnode.pause import pack_binary_image
from retrodiction_harness.repo import REPO_ROOT

BUILD_SCRIPT: Final = REPO_ROOT / "hack" / "coredns" / "build.sh"
# The tag is the CoreDNS module version pinned in hack/coredns/go.mod (a unit test checks they agree).
COREDNS_IMAGE: Final = "localhost/coredns:v1.15.0"
RUN_AS: Final = 65532
COREFILE_DIR: Final = "/etc/coredns"
ENTRYPOINT: Final = ("/coredns", "-conf", f"{COREFILE_DIR}/Corefile")
DNS_PORT: Final = 1053  # inside the pod; the Service's port 53 maps to it
HEALTH_PORT: Final = 8080  # the health plugin's default
READY_PORT: Final = 8181  # the ready plugin's default
NAMESPACE: Final = "kube-system"
LABELS: Final = {"k8s-app": "kube-dns"}


def coredns_bin_dir() -> Path:
    """The directory holding the `coredns` binary, built (once) by hack/coredns/build.sh."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building CoreDNS failed:\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def build_coredns_archive(binary: Path, workdir: Path) -> Path:
    """The OCI archive of the CoreDNS image, packed once per binary (and image configuration) into `workdir`."""
    digest = hashlib.sha256("\0".join((COREDNS_IMAGE, str(RUN_AS), *ENTRYPOINT, "")).encode())
    with binary.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    archive = workdir / f"coredns-{digest.hexdigest()[:16]}.oci.tar"
    if archive.exists():
        return archive
    if binary.name != "coredns":
        raise ValueError(f"{binary}: the image's entrypoint is /coredns, so the binary must be named coredns")
    return pack_binary_image(binary, COREDNS_IMAGE, f"{RUN_AS}:{RUN_AS}", ENTRYPOINT, archive)


def corefile(domain: str = "cluster.local") -> str:
    """The cluster's zones only, each answered by the kubernetes plugin from the API server's objects."""
    zones = f"{domain} in-addr.arpa ip6.arpa"
    keys = " ".join(f"{zone}:{DNS_PORT}" for zone in zones.split())
    return f"""\
{keys} {{
    errors
    log . {{
        class denial error
    }}
    health :{HEALTH_PORT} {{
        lameduck 5s
    }}
    ready :{READY_PORT}
    kubernetes {zones} {{
        pods insecure
        ttl 30
    }}
    cache 30
    reload
    loadbalance
}}
"""


def _metadata(name: str, *, namespaced: bool = True, labels: bool = True) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespaced:
        metadata["namespace"] = NAMESPACE
    if labels:
        metadata["labels"] = dict(LABELS)
    return metadata


def _probe(path: str, port: int, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}, "timeoutSeconds": 5, **timing}


def _deployment() -> dict[str, Any]:
    container = {
        "name": "coredns",
        "image": COREDNS_IMAGE,
        "imagePullPolicy": "Never",  # imported into containerd; no registry is reachable
        "resources": {"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}},
        "ports": [
            {"name": "dns", "containerPort": DNS_PORT, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"},
        ],
        "volumeMounts": [{"name": "config-volume", "mountPath": COREFILE_DIR, "readOnly": True}],
        "livenessProbe": _probe("/health", HEALTH_PORT, initialDelaySeconds=60, successThreshold=1, failureThreshold=5),
        "readinessProbe": _probe("/ready", READY_PORT, periodSeconds=2),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata("coredns"),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "selector": {"matchLabels": dict(LABELS)},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    # CoreDNS itself resolves nothing (no forward); the node's resolv.conf names no server.
                    "dnsPolicy": "Default",
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "config-volume",
                            "configMap": {"name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]},
                        }
                    ],
                },
            },
        },
    }


def cluster_dns_manifests(cluster_ip: str, domain: str = "cluster.local") -> list[dict[str, Any]]:
    """kube-system's DNS objects, in an order they can be created in: the kube-dns Service at `cluster_ip`
    (the kubelet's clusterDNS) in front of one CoreDNS pod answering for `domain` (the kubelet's clusterDomain)."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata("coredns", labels=False)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": "system:coredns",
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            },
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {
                "name": "system:coredns",
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata("coredns", labels=False),
            "data": {"Corefile": corefile(domain)},
        },
        _deployment(),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                **_metadata("kube-dns"),
                "labels": {**LABELS, "kubernetes.io/name": "CoreDNS"},
            },
            "spec": {
                "selector": dict(LABELS),
                "clusterIP": cluster_ip,
                "clusterIPs": [cluster_ip],
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": DNS_PORT},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": DNS_PORT},
                ],
            },
        },
    ]


def _ready_replicas(apps: AppsV1Api) -> int:
    status = apps.read_namespaced_deployment_status("coredns", NAMESPACE).status
    return (status.ready_replicas if status is not None else None) or 0


def deploy_cluster_dns(api: ApiClient, runtime: Containerd, cluster_ip: str, timeout: float = 120.0) -> None:
    """CoreDNS on the node: its image imported (once), its objects created, and its pod ready to answer."""
    archive = build_coredns_archive(coredns_bin_dir() / "coredns", project_cache_dir() / "node-images")
    runtime.ensure_image(archive, COREDNS_IMAGE)
    for manifest in cluster_dns_manifests(cluster_ip):
        utils.create_from_dict(api, manifest)
    apps = AppsV1Api(api)
    deadline = time.monotonic() + timeout
    while _ready_replicas(apps) < 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"CoreDNS was not ready within {timeout:.0f} s")
        time.sleep(0.5)
