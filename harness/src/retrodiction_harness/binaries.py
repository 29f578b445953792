"""Finds the control-plane binaries made by hack/controlplane/build.sh, never starting a long build by accident.

build.sh is the only authority on where the binaries are; it answers in milliseconds when its cache is complete,
but builds for tens of minutes when it is not. `cached_bin_dir` predicts the cache location the same way
build.sh computes it (KUBEBUILDER_ASSETS, then the cache keyed by versions.sh), so pytest can tell "ready" from
"would build" before calling it. If build.sh changes its layout, this prediction must follow.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from retrodiction_harness.repo import REPO_ROOT

REQUIRED = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm")
_ENVTEST = ("etcd", "kube-apiserver", "kubectl")
BUILD_HINT = "bash hack/controlplane/build.sh"

_SCRIPT_DIR = REPO_ROOT / "hack" / "controlplane"


class BinariesUnavailableError(RuntimeError):
    """The binaries are not there and building them was not allowed (or failed)."""


def _has_all(directory: Path, names: tuple[str, ...]) -> bool:
    return all((directory / name).is_file() and os.access(directory / name, os.X_OK) for name in names)


def pinned_versions(versions_sh: Path = _SCRIPT_DIR / "versions.sh") -> dict[str, str]:
    """K8S_VERSION, ETCD_VERSION and HELM_VERSION as hack/controlplane/versions.sh pins them."""
    text = versions_sh.read_text()
    return dict(re.findall(r"^(K8S_VERSION|ETCD_VERSION|HELM_VERSION)=(\S+)", text, flags=re.MULTILINE))


def _cache_key(versions_sh: Path) -> str:
    found = pinned_versions(versions_sh)
    return f"k8s-{found['K8S_VERSION']}_etcd-{found['ETCD_VERSION']}_helm-{found['HELM_VERSION']}"


def project_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user cache outside the clone: binaries, images and the real node's state live under it."""
    env = os.environ if env is None else env
    base = (
        Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path(env.get("HOME", "~")).expanduser() / ".cache"
    )
    return base / "retrodiction-operator"


def _cache_root(env: Mapping[str, str]) -> Path:
    if env.get("RETRODICTION_CONTROLPLANE_CACHE"):
        return Path(env["RETRODICTION_CONTROLPLANE_CACHE"])
    return project_cache_dir(env) / "controlplane"


def cached_bin_dir(env: Mapping[str, str] | None = None, script_dir: Path = _SCRIPT_DIR) -> Path | None:
    """The directory build.sh would print without building anything, or None if it would have to build."""
    env = os.environ if env is None else env
    key = _cache_key(script_dir / "versions.sh")
    root = _cache_root(env)
    assets_env = env.get("KUBEBUILDER_ASSETS")
    if assets_env and Path(assets_env).exists():
        assets = Path(assets_env).resolve()
        if _has_all(assets, REQUIRED):
            return assets
        if _has_all(assets, _ENVTEST):
            digest = hashlib.sha256(str(assets).encode()).hexdigest()[:12]
            candidate = root / f"envtest-{digest}_{key}" / "bin"
            return candidate if _has_all(candidate, REQUIRED) else None
    candidate = root / key / "bin"
    return candidate if _has_all(candidate, REQUIRED) else None


def ensure_bin_dir(*, allow_build: bool) -> Path:
    """Run build.sh and return the directory it prints; refuse to start a cold build unless `allow_build`."""
    if not allow_build and cached_bin_dir() is None:
        raise BinariesUnavailableError(
            f"the local control-plane binaries are not built; run `{BUILD_HINT}` once (tens of minutes on 2 cores), "
            "or point KUBEBUILDER_ASSETS at them, or use --cluster=existing with a KUBECONFIG"
        )
    result = subprocess.run(
        ["bash", str(_SCRIPT_DIR / "build.sh")], capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise BinariesUnavailableError(f"{BUILD_HINT} failed (exit {result.returncode}): {result.stderr[-2000:]}")
    bin_dir = Path(lines[-1])
    if not _has_all(bin_dir, REQUIRED):
        raise BinariesUnavailableError(f"{BUILD_HINT} printed {bin_dir}, which lacks one of {', '.join(REQUIRED)}")
    return bin_dir


def tool(name: str) -> Path:
    """kubectl or helm: the project's build when it is cached, else the one on PATH (a kind job installs its own,
    and building a control plane there only to get them would be waste)."""
    cached = cached_bin_dir()
    if cached is not None and (cached / name).is_file():
        return cached / name
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    raise BinariesUnavailableError(f"no {name}: run `{BUILD_HINT}` once, or put {name} on PATH")
