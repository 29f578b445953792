"""The images of the real node, built on this machine: registries are out of reach, so nothing is pulled.

1. A Python base image standing in for the Dockerfile's PYTHON_IMAGE (python:3.11.7-slim-bookworm): Debian
   bookworm's own python3 (3.11.2) installed by mmdebstrap, plus a layer with what the official image provides
   and the Dockerfile relies on (/usr/local/bin/python3.11, LANG=C.UTF-8, pip usable: no EXTERNALLY-MANAGED marker,
   SSL_CERT_FILE naming the system bundle). Differences from the official image: Python 3.11.2 from Debian instead
   of 3.11.7 built from source, and SSL_CERT_FILE set.
2. worker_image/Dockerfile, unchanged, built by podman for its `operator` and `worker` targets with
   PYTHON_IMAGE pointing at that base and the build arguments of the release's plan (hack/release/images.py, which
   .github/workflows/release.yaml runs): this build is the release's image build, dry run. RUN steps reach the
   package index through this machine's TLS setup: its CA bundle is mounted over the image's for the build only.
3. Each image saved as an OCI archive for `ctr images import`, and its size measured (tests/e2e/realnode/
   test_image_sizes.py bounds them).

podman's configuration, storage and temporary files live under the node's cache directory (CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF point there): nothing under /etc/containers, and the one
thing podman 4.3 writes under /var/lib/containers regardless (a blob-info cache) is removed after each call.
Every product is cached by a hash of what it is built from, so a warm run builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrodiction_harness.realnode.containerd import remove_cgroup_tree
from retrodiction_harness.repo import REPO_ROOT

BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates", "netbase", "tzdata")
SUITE = "bookworm"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# podman 4.3 (containers/image) keeps root's blob-info cache here whatever its configuration says: removed after
# each call when podman made it.
BLOB_INFO_CACHE = Path("/var/lib/containers")
BASE_LAYER = """\
FROM {base}
RUN ln -s /usr/bin/python3.11 /usr/local/bin/python3.11 \\
    && ln -s /usr/bin/python3 /usr/local/bin/python3 \\
    && ln -s /usr/bin/python3 /usr/local/bin/python \\
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED
ENV LANG=C.UTF-8 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
"""
# The inputs of the product images: the Dockerfile's context as its .dockerignore leaves it would be exact; these
# are what the Dockerfile copies.
IMAGE_INPUTS = (
    "worker_image/Dockerfile",
    "requirements/operator.txt",
    "requirements/worker.txt",
    "pyproject.toml",
    "README.md",
    "LICENSE",
)


def _digest(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:16]


def source_digest(repo: Path = REPO_ROOT) -> str:
    """A hash of everything the Dockerfile builds from: its inputs and the package's source tree."""
    files = [repo / name for name in IMAGE_INPUTS]
    files += sorted(
        path for path in (repo / "operator").rglob("*") if path.is_file() and "__pycache__" not in path.parts
    )
    return _digest(part for path in files for part in (str(path.relative_to(repo)).encode(), path.read_bytes()))


# The cgroup parent of containers run by Podman.run_container (a name of its own, removed after each run).
RUN_CGROUP = "retrodiction-podman-run"


@dataclass(frozen=True)
class Podman:
    """podman with every file of its own under `base`."""

    base: Path

    def environment(self) -> dict[str, str]:
        self.base.mkdir(parents=True, exist_ok=True)
        conf, storage, registries = (
            self.base / "containers.conf",
            self.base / "storage.conf",
            self.base / "registries.conf",
        )
        conf.write_text(
            "[containers]\n"
            # The machine's hard nofile limit is 20000: podman's default (1048576) fails with "error setting rlimit".
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "none"\n'
            f'tmp_dir = "{self.base / "tmp"}"\n'
            f'static_dir = "{self.base / "libpod"}"\n'
            f'volume_path = "{self.base / "volumes"}"\n'
            f'image_copy_tmp_dir = "{self.base / "tmp"}"\n'
        )
        storage.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.base / "storage"}"\nrunroot = "{self.base / "run"}"\n'
        )
        registries.write_text("unqualified-search-registries = []\n")
        return {
            **os.environ,
            "CONTAINERS_CONF": str(conf),
            "CONTAINERS_STORAGE_CONF": str(storage),
            "CONTAINERS_REGISTRIES_CONF": str(registries),
            "TMPDIR": str(self.base / "tmp"),
        }

    def run(self, *args: str, cwd: Path | None = None) -> str:
        env = self.environment()
        Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
        made_blob_cache = not BLOB_INFO_CACHE.exists()
        try:
            done = subprocess.run(["podman", *args], capture_output=True, text=True, check=False, env=env, cwd=cwd)
        finally:
            if made_blob_cache:
                shutil.rmtree(BLOB_INFO_CACHE, ignore_errors=True)
        if done.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}")
        return done.stdout

    def build(self, *args: str, cwd: Path | None = None) -> str:
        """`podman build` with runc's state under `base`: its default, /run/runc, is a path the real node's machine
        check watches, and a RUN step would create it."""
        return self.run("build", "--runtime-flag", f"root={self.base / 'runc'}", *args, cwd=cwd)

    def run_container(self, image: str, entrypoint: str, *args: str) -> str:
        """`image`'s `entrypoint` run once, without a network, leaving nothing outside `base`: runc keeps its state
        under `base` (its default, /run/runc, is a path the real node's machine check watches), and the container's
        and conmon's cgroups go under a parent of their own, removed afterwards (cgroupfs would leave
        libpod_parent behind)."""
        try:
            return self.run(
                "--runtime-flag",
                f"root={self.base / 'runc'}",
                "run",
                "--rm",
                "--network",
                "none",
                "--cgroup-parent",
                f"/{RUN_CGROUP}",
                "--entrypoint",
                entrypoint,
                image,
                *args,
            )
        finally:
            remove_cgroup_tree(RUN_CGROUP)


def _save(podman: Podman, image: str, archive: Path) -> Path:
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    podman.run("save", "--format", "oci-archive", "-o", str(partial), image)
    partial.replace(archive)
    return archive


def python_base(podman: Podman, cache: Path) -> str:
    """The base image (built once per package list), loaded into podman; its name."""
    key = _digest([SUITE.encode(), *(name.encode() for name in BASE_PACKAGES), BASE_LAYER.encode()])
    name = f"localhost/retrodiction-python-base:{SUITE}-{key}"
    archive = cache / f"python-base-{key}.oci.tar"
    if not archive.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as work:
            rootfs = Path(work) / "rootfs.tar"
            subprocess.run(
                ["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs)],
                check=True,
                capture_output=True,
            )
            podman.run("import", str(rootfs), f"{name}-rootfs")
            (Path(work) / "Containerfile").write_text(BASE_LAYER.format(base=f"{name}-rootfs"))
            podman.build("--pull=never", "--network", "host", "-t", name, str(work))
            _save(podman, name, archive)
    elif not podman.run("images", "-q", name).strip():
        podman.run("load", "-i", str(archive))
    return name


# The release builds at a commit ($GITHUB_SHA); the dry run at a fixed one, so that its content-hash cache still hits
# between commits that leave the images' inputs alone.
DRY_RUN_REVISION = "0" * 40


def github_outputs(text: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` blocks, as a step writes them to $GITHUB_OUTPUT."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, heredoc, delimiter = line.partition("<<")
        if heredoc:
            outputs[name] = "\n".join(iter(lines.__next__, delimiter))
        else:
            key, _, value = line.partition("=")
            outputs[key] = value
    return outputs


@dataclass(frozen=True)
class ReleaseBuild:
    """What the release plan (hack/release/images.py) says to build for one Dockerfile target."""

    target: str
    dockerfile: str
    build_args: dict[str, str]


def release_build(target: str, repo: Path = REPO_ROOT) -> ReleaseBuild:
    """The release's plan for `target`, asked the way the release workflow asks it, with the dry run's revision and
    the chart's home as the source (the repository URL the workflow passes)."""
    source = yaml.safe_load((repo / "charts" / "retrodiction-operator" / "Chart.yaml").read_text())["home"]
    plan = subprocess.run(
        [sys.executable, "-m", "hack.release.images", "--target", target,
         "--revision", DRY_RUN_REVISION, "--source", source],
        cwd=repo, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    outputs = github_outputs(plan)
    build_args = dict(line.split("=", 1) for line in outputs["build-args"].splitlines())
    return ReleaseBuild(outputs["target"], outputs["dockerfile"], build_args)


def build_product_images(
    podman: Podman, cache: Path, tag: str, targets: Sequence[str] = ("operator", "worker")
) -> dict[str, Path]:
    """OCI archives of the Dockerfile's targets as the release builds them, tagged retrodiction-<target>:<tag>,
    cached by source hash and build arguments."""
    base = python_base(podman, cache)
    archives: dict[str, Path] = {}
    for target in targets:
        plan = release_build(target)
        key = _digest([source_digest().encode(), base.encode(), tag.encode(), repr(plan).encode()])
        image = f"localhost/retrodiction-{target}:{tag}"
        archive = cache / f"{target}-{key}.oci.tar"
        if not archive.exists():
            build_args = [
                f"--build-arg={name}={value}" for name, value in {**plan.build_args, "PYTHON_IMAGE": base}.items()
            ]
            podman.build(
                "--pull=never", "--network", "host",
                "-v", f"{HOST_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro",
                "-f", plan.dockerfile, "--target", plan.target, *build_args,
                "-t", image, ".",
                cwd=REPO_ROOT,
            )  # fmt: skip
            _save(podman, image, archive)
            _prune(podman, cache, f"{target}-*.oci.tar", archive, image)
        archives[target] = archive
    return archives


def _loaded(podman: Podman, image: str, archive: Path) -> str:
    """The image, loaded from its archive when an earlier run's podman storage no longer holds it."""
    if not podman.run("images", "-q", image).strip():
        podman.run("load", "-i", str(archive))
    return image


def image_size(podman: Podman, image: str, archive: Path) -> int:
    """The image's size in bytes as `podman image ls` reports it (its layers unpacked, the base's included)."""
    return int(podman.run("image", "inspect", "--format", "{{.Size}}", _loaded(podman, image, archive)).strip())


def image_labels(podman: Podman, image: str, archive: Path) -> dict[str, str]:
    """The image's labels (the Dockerfile's OCI labels among them)."""
    inspected = podman.run("image", "inspect", "--format", "{{json .Labels}}", _loaded(podman, image, archive))
    labels: dict[str, str] = json.loads(inspected) or {}
    return labels


def _prune(podman: Podman, cache: Path, pattern: str, archive: Path, image: str) -> None:
    """Drop the archives and podman tags of earlier builds (their layers stay while a newer image shares them):
    the cache holds one build of each image, not one per commit."""
    for old in cache.glob(pattern):
        if old != archive:
            old.unlink()
    repository = image.rsplit(":", 1)[0]
    names = podman.run("images", "--format", "{{.Repository}}:{{.Tag}}", repository).split()
    stale = [name for name in names if name != image and name.startswith(f"{repository}:")]
    if stale:
        podman.run("rmi", "--force", *stale)
    podman.run("image", "prune", "--force")


# The dask-kubernetes controller: its own image (ghcr.io/dask/dask-kubernetes-operator) is out of reach, and the
# product images need not carry it, so an image like it is built from the same base and the same lock: its
# Dockerfile (dask_kubernetes/operator/deployment/Dockerfile in the wheel) installs the package, runs as uid 1000 and
# starts Kopf; the chart's dependency passes the same arguments as CMD does there.
DASK_CONTROLLER_LAYER = """\
FROM {base}
COPY lock.txt /tmp/lock.txt
RUN python3 -m pip install --no-cache-dir -c /tmp/lock.txt "dask-kubernetes=={version}" \\
    && rm /tmp/lock.txt \\
    && useradd --uid 1000 --no-create-home --shell /usr/sbin/nologin dask
USER 1000
ENV HOME=/tmp
ENTRYPOINT ["kopf", "run", "-m", "dask_kubernetes.operator.controller"]
CMD ["--liveness=http://0.0.0.0:8080/healthz", "--verbose", "--all-namespaces"]
"""
DASK_CONTROLLER_REPOSITORY = "localhost/dask-kubernetes-operator"


def locked_version(package: str, lock: Path = REPO_ROOT / "requirements" / "lock.txt") -> str:
    prefix = f"{package}=="
    for line in lock.read_text().splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix).split()[0]
    raise LookupError(f"{package} is not pinned in {lock}")


def build_dask_controller_image(podman: Podman, cache: Path) -> tuple[str, Path]:
    """(image name, OCI archive) of the dask-kubernetes controller at the lock's version, cached by the lock."""
    base = python_base(podman, cache)
    lock = (REPO_ROOT / "requirements" / "lock.txt").read_bytes()
    version = locked_version("dask-kubernetes")
    layer = DASK_CONTROLLER_LAYER.format(base=base, version=version)
    key = _digest([layer.encode(), lock])
    image = f"{DASK_CONTROLLER_REPOSITORY}:{version}"
    archive = cache / f"dask-controller-{key}.oci.tar"
    if not archive.exists():
        with tempfile.TemporaryDirectory(dir=cache) as work:
            (Path(work) / "Containerfile").write_text(layer)
            (Path(work) / "lock.txt").write_bytes(lock)
            podman.build(
                "--pull=never", "--network", "host",
                "-v", f"{HOST_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro",
                "-t", image, str(work),
            )  # fmt: skip
            _save(podman, image, archive)
            _prune(podman, cache, "dask-controller-*.oci.tar", archive, image)
    return image, archive


@dataclass(frozen=True)
class NodeImages:
    """What the real node runs, by the names pods use, and the archives they are imported from."""

    operator: str
    worker: str
    dask_controller: str
    archives: dict[str, Path]  # image name -> OCI archive
    sizes: dict[str, int] = field(default_factory=dict)  # the product images' names -> bytes

    @property
    def tag(self) -> str:
        return self.operator.rsplit(":", 1)[1]


def build_node_images(cache: Path) -> NodeImages:
    """The operator and worker images from worker_image/Dockerfile and the dask-kubernetes controller's, built
    (or taken from the cache) under `cache`. The product images' tag names their source, so a pod never runs an
    older build that happens to carry the same tag."""
    podman = Podman(cache / "podman")
    tag = f"dev-{source_digest()[:12]}"
    products = build_product_images(podman, cache, tag)
    controller, controller_archive = build_dask_controller_image(podman, cache)
    operator, worker = (f"localhost/retrodiction-{target}:{tag}" for target in ("operator", "worker"))
    archives = {operator: products["operator"], worker: products["worker"], controller: controller_archive}
    sizes = {image: image_size(podman, image, archives[image]) for image in (operator, worker)}
    return NodeImages(operator, worker, controller, archives, sizes)
