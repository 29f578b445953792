"""The harness predicts, without building, the directory hack/controlplane/build.sh would print.

The cross-checks run the real build.sh against fake binaries in a temporary cache: it prints a directory
without building anything exactly when every binary is there, so a change to its layout shows up here.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path

from retrodiction_harness.binaries import REQUIRED, cached_bin_dir
from retrodiction_harness.repo import REPO_ROOT

BUILD_SH = REPO_ROOT / "hack" / "controlplane" / "build.sh"
ENVTEST = ("etcd", "kube-apiserver", "kubectl")


def _key() -> str:
    found = {}
    for line in (REPO_ROOT / "hack" / "controlplane" / "versions.sh").read_text().splitlines():
        name, _, rest = line.partition("=")
        if name in ("K8S_VERSION", "ETCD_VERSION", "HELM_VERSION"):
            found[name] = rest.split()[0]
    return f"k8s-{found['K8S_VERSION']}_etcd-{found['ETCD_VERSION']}_helm-{found['HELM_VERSION']}"


def _fake_binaries(directory: Path, names: Iterable[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return directory


def _env(cache: Path, assets: Path | None = None) -> dict[str, str]:
    env = {"HOME": str(cache.parent), "RETRODICTION_CONTROLPLANE_CACHE": str(cache)}
    if assets is not None:
        env["KUBEBUILDER_ASSETS"] = str(assets)
    return env


def _build_sh_prints(env: dict[str, str], tmp_path: Path) -> Path:
    # A `go` that always fails comes first on PATH: were build.sh to decide to build, it would fail at once
    # instead of running for minutes.
    fake_go = tmp_path / "fake-go"
    fake_go.mkdir()
    (fake_go / "go").write_text("#!/bin/sh\nexit 1\n")
    (fake_go / "go").chmod(0o755)
    result = subprocess.run(
        ["bash", str(BUILD_SH)],
        env={**env, "PATH": f"{fake_go}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(result.stdout.strip().splitlines()[-1])


def test_complete_cache_is_found(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    bin_dir = _fake_binaries(cache / _key() / "bin", REQUIRED)
    assert cached_bin_dir(_env(cache)) == bin_dir
    assert _build_sh_prints(_env(cache), tmp_path) == bin_dir


def test_cache_missing_one_binary_means_a_build(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _fake_binaries(cache / _key() / "bin", [name for name in REQUIRED if name != "helm"])
    assert cached_bin_dir(_env(cache)) is None


def test_non_executable_binary_means_a_build(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    bin_dir = _fake_binaries(cache / _key() / "bin", REQUIRED)
    (bin_dir / "etcd").chmod(0o644)
    assert cached_bin_dir(_env(cache)) is None


def test_complete_kubebuilder_assets_win_over_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _fake_binaries(cache / _key() / "bin", REQUIRED)
    assets = _fake_binaries(tmp_path / "assets", REQUIRED)
    assert cached_bin_dir(_env(cache, assets)) == assets
    assert _build_sh_prints(_env(cache, assets), tmp_path) == assets


def test_envtest_assets_need_their_completed_cache_dir(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assets = _fake_binaries(tmp_path / "assets", ENVTEST)
    assert cached_bin_dir(_env(cache, assets)) is None

    digest = hashlib.sha256(str(assets.resolve()).encode()).hexdigest()[:12]
    completed = _fake_binaries(cache / f"envtest-{digest}_{_key()}" / "bin", REQUIRED)
    assert cached_bin_dir(_env(cache, assets)) == completed
    assert _build_sh_prints(_env(cache, assets), tmp_path) == completed


def test_default_cache_root_is_under_xdg_cache_home(tmp_path: Path) -> None:
    bin_dir = _fake_binaries(tmp_path / "xdg" / "retrodiction-operator" / "controlplane" / _key() / "bin", REQUIRED)
    assert cached_bin_dir({"HOME": "/nonexistent", "XDG_CACHE_HOME": str(tmp_path / "xdg")}) == bin_dir
