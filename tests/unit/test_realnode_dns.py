"""The real node's cluster DNS: CoreDNS's kube-system objects, its image archive and its build script's cache key."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from retrodiction_harness.realnode import dns
from retrodiction_harness.realnode.dns import (
    COREDNS_IMAGE,
    DNS_PORT,
    HEALTH_PORT,
    READY_PORT,
    build_coredns_archive,
    cluster_dns_manifests,
    corefile,
)
from retrodiction_harness.realnode.network import NodeNetwork
from retrodiction_harness.repo import REPO_ROOT

MODULE = REPO_ROOT / "hack" / "coredns"
CLUSTER_IP = NodeNetwork().dns_service_ip


def _objects() -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for obj in cluster_dns_manifests(CLUSTER_IP)}


def _container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = _objects()["Deployment"]["spec"]["template"]["spec"]["containers"]
    [container] = containers
    return container


def _directives(text: str) -> list[str]:
    """The plugins a Corefile uses: the first word of each line one level inside a server block."""
    return [line.split()[0] for line in text.splitlines() if re.match(r"^ {4}[a-z]", line)]


def _compiled_plugins() -> set[str]:
    source = (MODULE / "main.go").read_text()
    body = source[source.index("var directives = []string{") : source.index("\n}\n", source.index("var directives"))]
    return set(re.findall(r'"([a-z_0-9]+)",', body))


def test_the_corefile_forwards_nowhere() -> None:
    text = corefile()
    plugins = _directives(text)
    assert "forward" not in plugins and "loop" not in plugins
    assert not re.search(r"\d+\.\d+\.\d+\.\d+|resolv\.conf|\bforward\b|\bgrpc\b|\bproxy\b", text)
    assert set(plugins) <= _compiled_plugins()  # every plugin it uses is in the trimmed build


def test_the_corefile_serves_only_the_cluster_zones_on_the_pods_unprivileged_port() -> None:
    text = corefile("example.test")
    first = text.splitlines()[0]
    assert first == f"example.test:{DNS_PORT} in-addr.arpa:{DNS_PORT} ip6.arpa:{DNS_PORT} {{"
    assert "    kubernetes example.test in-addr.arpa ip6.arpa {" in text
    assert "fallthrough" not in text  # nothing after kubernetes to fall through to
    assert f"    health :{HEALTH_PORT} {{" in text and f"    ready :{READY_PORT}\n" in text
    assert _objects()["ConfigMap"]["data"]["Corefile"] == corefile("cluster.local")


def test_the_service_has_the_cluster_ip_and_both_protocols_on_port_53() -> None:
    service = _objects()["Service"]
    assert service["metadata"]["name"] == "kube-dns" and service["metadata"]["namespace"] == "kube-system"
    assert service["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert service["spec"]["clusterIP"] == CLUSTER_IP and service["spec"]["clusterIPs"] == [CLUSTER_IP]
    ports = {(p["name"], p["protocol"]): (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {("dns", "UDP"): (53, DNS_PORT), ("dns-tcp", "TCP"): (53, DNS_PORT)}


def test_the_service_selects_the_deployments_pods() -> None:
    objects = _objects()
    deployment = objects["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects["Service"]["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["replicas"] == 1
    container_ports = {(p["containerPort"], p["protocol"]) for p in _container()["ports"]}
    assert container_ports == {(DNS_PORT, "UDP"), (DNS_PORT, "TCP")}


def test_the_pod_runs_as_non_root_with_a_read_only_root_and_no_capabilities() -> None:
    pod = _objects()["Deployment"]["spec"]["template"]["spec"]
    context = _container()["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 65532 and context["runAsGroup"] == 65532
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}  # listening on 1053 needs no NET_BIND_SERVICE
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "coredns" and pod["dnsPolicy"] == "Default"


def test_the_pod_runs_the_imported_image_and_is_never_pulled() -> None:
    container = _container()
    assert container["image"] == COREDNS_IMAGE and container["imagePullPolicy"] == "Never"
    version = re.search(r"^require github\.com/coredns/coredns (v\S+)$", (MODULE / "go.mod").read_text(), re.M)
    assert version is not None and COREDNS_IMAGE.rsplit(":", 1) == ["localhost/coredns", version[1]]


def test_the_corefile_is_mounted_where_the_images_entrypoint_reads_it() -> None:
    pod = _objects()["Deployment"]["spec"]["template"]["spec"]
    [mount] = _container()["volumeMounts"]
    [volume] = pod["volumes"]
    assert volume["name"] == mount["name"] and mount["readOnly"] is True
    assert volume["configMap"]["name"] == "coredns"
    [item] = volume["configMap"]["items"]
    assert f"{mount['mountPath']}/{item['path']}" == dns.ENTRYPOINT[-1]
    assert dns.ENTRYPOINT[:2] == ("/coredns", "-conf")
    assert "command" not in _container() and "args" not in _container()


def test_the_probes_ask_the_ready_and_health_plugins() -> None:
    container = _container()
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": READY_PORT, "scheme": "HTTP"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": HEALTH_PORT, "scheme": "HTTP"}
    assert (READY_PORT, HEALTH_PORT) == (8181, 8080)


def test_the_role_grants_only_list_and_watch() -> None:
    objects = _objects()
    rules = objects["ClusterRole"]["rules"]
    assert all(rule["verbs"] == ["list", "watch"] for rule in rules)
    granted = {(group, resource) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}
    assert granted == {
        ("", "endpoints"),
        ("", "services"),
        ("", "pods"),
        ("", "namespaces"),
        ("discovery.k8s.io", "endpointslices"),
    }
    binding = objects["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == objects["ClusterRole"]["metadata"]["name"] == "system:coredns"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]


def test_every_namespaced_object_is_in_kube_system() -> None:
    objects = cluster_dns_manifests(CLUSTER_IP)
    kinds = [obj["kind"] for obj in objects]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service"]
    for obj in objects:
        assert ("namespace" in obj["metadata"]) is (not obj["kind"].startswith("Cluster"))
        assert obj["metadata"].get("namespace", "kube-system") == "kube-system"


def test_the_archive_is_packed_once_per_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packed: list[tuple[str, str, tuple[str, ...]]] = []

    def pack(binary: Path, image: str, user: str, entrypoint: Sequence[str], archive: Path) -> Path:
        packed.append((image, user, tuple(entrypoint)))
        archive.write_bytes(binary.read_bytes())
        return archive

    monkeypatch.setattr(dns, "pack_binary_image", pack)
    binary = tmp_path / "bin" / "coredns"
    binary.parent.mkdir()
    binary.write_bytes(b"one")
    first = build_coredns_archive(binary, tmp_path)
    assert build_coredns_archive(binary, tmp_path) == first
    assert packed == [(COREDNS_IMAGE, "65532:65532", ("/coredns", "-conf", "/etc/coredns/Corefile"))]
    binary.write_bytes(b"two")
    assert build_coredns_archive(binary, tmp_path) != first and len(packed) == 2


def _fake_go(tmp_path: Path, version: str) -> dict[str, str]:
    """A `go` that answers `go version` only: were build.sh to build, it would fail."""
    bin_dir = tmp_path / "fake-go"
    bin_dir.mkdir(exist_ok=True)
    go = bin_dir / "go"
    go.write_text(f'#!/bin/sh\n[ "$1" = version ] && echo "go version {version} linux/amd64" && exit 0\nexit 1\n')
    go.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "RETRODICTION_COREDNS_CACHE": str(tmp_path / "cache")}


def _run(module: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(module / "build.sh"), *args], capture_output=True, text=True, check=False, env=env, timeout=30
    )


def test_the_build_scripts_key_changes_with_go_mod_main_go_and_the_go_version(tmp_path: Path) -> None:
    module = tmp_path / "coredns"
    shutil.copytree(MODULE, module)
    env = _fake_go(tmp_path, "go1.26.8")
    key = _run(module, env, "--key").stdout.strip()
    assert re.fullmatch(r"coredns-v\d+\.\d+\.\d+_[0-9a-f]{16}", key)
    assert _run(module, env, "--key").stdout.strip() == key
    assert _run(module, _fake_go(tmp_path, "go1.26.9"), "--key").stdout.strip() != key
    (module / "main.go").write_text((module / "main.go").read_text() + "\n")
    changed_main = _run(module, env, "--key").stdout.strip()
    assert changed_main != key
    (module / "go.mod").write_text((module / "go.mod").read_text() + "\n")
    assert _run(module, env, "--key").stdout.strip() not in {key, changed_main}


def test_the_build_script_finds_a_built_binary_without_building(tmp_path: Path) -> None:
    module = tmp_path / "coredns"
    shutil.copytree(MODULE, module)
    env = _fake_go(tmp_path, "go1.26.8")
    assert _run(module, env, "--check").returncode == 1
    target = Path(env["RETRODICTION_COREDNS_CACHE"]) / _run(module, env, "--key").stdout.strip()
    target.mkdir(parents=True)
    (target / "coredns").write_text("#!/bin/sh\n")
    (target / "coredns").chmod(0o755)
    for args in ((), ("--check",)):
        done = _run(module, env, *args)
        assert done.returncode == 0 and done.stdout.splitlines()[-1] == str(target)
