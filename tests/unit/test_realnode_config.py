"""The real node's configuration files: everything under the node's own directory, nothing of the machine's."""

from __future__ import annotations

import re
from pathlib import Path

from retrodiction_harness.realnode.containerd import ContainerdPaths, containerd_config
from retrodiction_harness.realnode.images import IMAGE_INPUTS, Podman, source_digest
from retrodiction_harness.realnode.kubelet import (
    SHADOWED_SYSCTLS,
    KubeletPaths,
    kubelet_args,
    kubelet_config,
    shielded_command,
)
from retrodiction_harness.realnode.network import NodeNetwork
from retrodiction_harness.realnode.proxy import proxy_config

BASE = Path("/cache/node")


def test_containerd_keeps_its_root_state_socket_and_runc_state_under_the_nodes_directory() -> None:
    text = containerd_config(ContainerdPaths(BASE))
    paths = re.findall(r'"(/[^"]*)"', text)
    outside = [path for path in paths if not path.startswith(str(BASE)) and path != "/usr/lib/cni"]
    assert outside == []
    assert "restrict_oom_score_adj = true" in text
    assert "netns_mounts_under_state_dir = true" in text
    assert 'path = "/cache/node/containerd/opt"' in text


def test_kubelet_writes_the_kernel_tunables_only_to_private_copies() -> None:
    paths = KubeletPaths(BASE)
    argv = shielded_command(paths, ["kubelet", "--v=1"])
    assert argv[:4] == ["unshare", "--mount", "--propagation", "unchanged"]
    script = argv[argv.index("-c") + 1]
    for name in SHADOWED_SYSCTLS:
        assert f"mount --bind {paths.shadows / name.replace('/', '.')} /proc/sys/{name}" in script
    assert script.endswith('exec "$@"') and argv[-2:] == ["kubelet", "--v=1"]


def test_kubelet_is_configured_for_this_machine_and_the_guarded_network() -> None:
    net = NodeNetwork()
    config = kubelet_config(KubeletPaths(BASE), net, BASE / "ca.crt")
    assert config["cgroupDriver"] == "cgroupfs" and config["failCgroupV1"] is False
    assert config["protectKernelDefaults"] is False and config["makeIPTablesUtilChains"] is False
    assert config["clusterDNS"] == [net.dns_service_ip] and config["address"] == net.node_ip
    assert config["readOnlyPort"] == 0 and config["authentication"]["anonymous"]["enabled"] is False
    assert config["imageGCHighThresholdPercent"] == 100  # imported images cannot be pulled again
    assert config["resolvConf"].startswith(str(BASE)) and config["podLogsDir"].startswith(str(BASE))
    args = kubelet_args(KubeletPaths(BASE), ContainerdPaths(BASE), net)
    assert f"--node-ip={net.node_ip}" in args
    assert f"--container-runtime-endpoint=unix://{BASE}/containerd/containerd.sock" in args


def test_kube_proxy_changes_nothing_machine_wide_and_opens_node_ports_on_the_bridge_only() -> None:
    net = NodeNetwork()
    config = proxy_config(net, BASE / "kube-proxy.kubeconfig", 10249)
    assert config["nodePortAddresses"] == [f"{net.node_ip}/32"]
    assert config["iptables"]["localhostNodePorts"] is False  # route_localnet stays as it is
    assert config["iptables"]["masqueradeAll"] is True  # no br_netfilter sysctl needed
    assert set(config["conntrack"].values()) <= {0, "0s"}
    assert config["metricsBindAddress"].startswith("127.0.0.1:") and config["healthzBindAddress"] == ""


def test_podman_keeps_its_configuration_storage_and_temporary_files_under_its_own_directory(tmp_path: Path) -> None:
    env = Podman(tmp_path / "podman").environment()
    for name in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "TMPDIR"):
        assert env[name].startswith(str(tmp_path))
    written = " ".join(Path(env[name]).read_text() for name in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"))
    assert [path for path in re.findall(r'"(/[^"]*)"', written) if not path.startswith(str(tmp_path))] == []
    assert "nofile=20000:20000" in written
    assert Path(env["CONTAINERS_REGISTRIES_CONF"]).read_text() == "unqualified-search-registries = []\n"


def test_the_product_images_are_rebuilt_when_the_package_source_changes(tmp_path: Path) -> None:
    for name in IMAGE_INPUTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / "operator" / "retrodiction").mkdir(parents=True)
    module = tmp_path / "operator" / "retrodiction" / "engine.py"
    module.write_text("A = 1\n")
    before = source_digest(tmp_path)
    assert source_digest(tmp_path) == before
    module.write_text("A = 2\n")
    assert source_digest(tmp_path) != before
