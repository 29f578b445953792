"""The sandbox ("pause") image, built here: registries are out of reach, and the image is one static binary.

pause.c comes from the same k8s.io/kubernetes module as the node's binaries (build/pause/linux/pause.c), compiled
with `gcc -static` and packed with umoci as an OCI image (user 65535, entrypoint /pause), cached by the hash of
its source. The result is an OCI archive `ctr images import` takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from retrodiction_harness.realnode.containerd import SANDBOX_IMAGE
from retrodiction_harness.realnode.network import run_command


def pause_source(k8s_version: str) -> Path:
    """pause.c in the Go module cache (downloaded with the module by the control plane's build, else now)."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOWORK": "off"}
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{k8s_version}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return Path(json.loads(done.stdout)["Dir"]) / "build" / "pause" / "linux" / "pause.c"


def build_pause_archive(source: Path, cache: Path) -> Path:
    """The OCI archive of the pause image, built once per source hash."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    archive = cache / f"pause-{digest}.oci.tar"
    if archive.exists():
        return archive
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        binary = Path(work) / "pause"
        run_command(["gcc", "-Os", "-static", "-Wall", "-Werror", "-o", str(binary), str(source)])
        return pack_binary_image(binary, SANDBOX_IMAGE, "65535:65535", ["/pause"], archive)


def pack_binary_image(binary: Path, image: str, user: str, entrypoint: Sequence[str], archive: Path) -> Path:
    """`archive`: an OCI archive for `ctr images import` of an image tagged as `image` holding `binary` alone, as
    /<its name>, run as `user` (uid:gid) with `entrypoint` and no cmd. Written whole or not at all."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.parent) as work:
        folder = Path(work)
        layout, tag = folder / "layout", image.rsplit(":", 1)[1]
        run_command(["umoci", "init", "--layout", str(layout)])
        run_command(["umoci", "new", "--image", f"{layout}:{tag}"])
        bundle = folder / "bundle"
        run_command(["umoci", "unpack", "--rootless", "--image", f"{layout}:{tag}", str(bundle)])
        shutil.copy2(binary, bundle / "rootfs" / binary.name)
        run_command(["umoci", "repack", "--image", f"{layout}:{tag}", str(bundle)])
        run_command([
            "umoci", "config", "--image", f"{layout}:{tag}", "--config.user", user,
            *(f"--config.entrypoint={word}" for word in entrypoint), "--clear=config.cmd",
        ])  # fmt: skip
        partial = folder / "image.oci.tar"
        run_command(["tar", "-C", str(layout), "-cf", str(partial), "."])
        partial.replace(archive)
    return archive
