"""containerd for the real node: configuration, state, images and socket all under the project's cache directory.

Nothing is read from or written to /etc/containerd, /var/lib/containerd or /opt/containerd: the machine may run a
containerd of its own. Network namespaces are mounted under the state directory, CNI configuration and IPAM state
live beside it, and the sandbox (pause) image is the one built here. One exception is containerd 1.6's own: shim
sockets and ctr's fifos always go under /run/containerd, so stopping removes that directory when the node made it,
and the k8s.io cgroups its containers used.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

# The tag kubelet and containerd know the sandbox image by; the image itself is built here (pause.py).
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins


@dataclass(frozen=True)
class ContainerdPaths:
    base: Path  # <cache>/node

    @property
    def root(self) -> Path:
        return self.base / "containerd" / "root"

    @property
    def state(self) -> Path:
        return self.base / "containerd" / "state"

    @property
    def socket(self) -> Path:
        return self.base / "containerd" / "containerd.sock"

    @property
    def config(self) -> Path:
        return self.base / "containerd" / "config.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.base / "cni" / "net.d"

    @property
    def log(self) -> Path:
        return self.base / "logs" / "containerd.log"


def containerd_config(paths: ContainerdPaths) -> str:
    """Version 2 configuration: CRI with runc (cgroupfs), overlayfs, our CNI directory and sandbox image."""
    return f"""version = 2
root = "{paths.root}"
state = "{paths.state}"
oom_score = 0

[grpc]
  address = "{paths.socket}"

[ttrpc]
  address = "{paths.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  # Its default, /opt/containerd, would be made on the machine.
  path = "{paths.base / "containerd" / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  # A negative oom_score_adj is denied on these machines (no CAP_SYS_RESOURCE).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{paths.cni_conf_dir}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's own state beside containerd's (its default is /run/containerd/runc).
        Root = "{paths.state / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
"""


def start_containerd(paths: ContainerdPaths, timeout: float = 30.0) -> subprocess.Popen[bytes]:
    for folder in (paths.root, paths.state, paths.cni_conf_dir, paths.log.parent):
        folder.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(containerd_config(paths))
    with paths.log.open("ab") as log:
        process = subprocess.Popen(
            ["containerd", "--config", str(paths.config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"containerd exited with {process.returncode}; see {paths.log}")
        if paths.socket.exists() and ctr(paths, "version").returncode == 0:
            return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"containerd did not answer within {timeout:.0f} s; see {paths.log}")


def ctr(paths: ContainerdPaths, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ctr", "--address", str(paths.socket), "--namespace", "k8s.io", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def archive_digest(archive: Path) -> str:
    """The digest of the one manifest an OCI archive's index names."""
    with tarfile.open(archive) as tar:
        # podman writes "index.json", tar -C <layout> . (umoci's layouts) "./index.json".
        names = {"index.json", "./index.json"}
        member = next((tar.extractfile(info) for info in tar if info.name in names), None)
        if member is None:
            raise RuntimeError(f"{archive} has no index.json")
        manifests = json.load(member)["manifests"]
    if len(manifests) != 1:
        raise RuntimeError(f"{archive} holds {len(manifests)} images, not one")
    return str(manifests[0]["digest"])


def image_digest(paths: ContainerdPaths, name: str) -> str | None:
    """The target digest containerd has for `name`, or None when it has no such image."""
    for line in ctr(paths, "images", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == name:
            return next((field for field in fields if field.startswith("sha256:")), None)
    return None


def processes_naming(marker: bytes) -> list[int]:
    """Processes (not this one) whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


RUN_DIR = Path("/run/containerd")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def remove_cgroup_tree(name: str) -> None:
    """Remove /sys/fs/cgroup/<controller>/<name> and everything below it (cgroup v1: one tree per controller).
    A cgroup directory is removed with rmdir, deepest first; a cgroup that still holds a process stays."""
    for controller in CGROUP_ROOT.iterdir():
        top = controller / name
        if not top.is_dir() or top.is_symlink():
            continue
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            folder.rmdir()
        top.rmdir()


def leftover_cgroups(name: str) -> list[str]:
    return [str(controller / name) for controller in CGROUP_ROOT.iterdir() if (controller / name).is_dir()]


class Containerd:
    """containerd started for the node and stopped with everything it made outside its base directory."""

    def __init__(self, paths: ContainerdPaths) -> None:
        self.paths = paths
        self.process: subprocess.Popen[bytes] | None = None
        self._made_run_dir = False

    def __enter__(self) -> Containerd:
        self._made_run_dir = not RUN_DIR.exists()
        self.process = start_containerd(self.paths)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        # Noted while their command lines are readable: an exiting process's is already empty.
        shims = processes_naming(str(self.paths.socket).encode())
        self.remove_all_tasks()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._wait_for_shims(shims)
        if self._made_run_dir:
            shutil.rmtree(RUN_DIR, ignore_errors=True)
        remove_cgroup_tree("k8s.io")

    def _wait_for_shims(self, shims: list[int], timeout: float = 10.0) -> None:
        """A shim outlives its killed task by a moment (it reports the exit, then leaves): wait until every shim of
        this containerd is gone, kill what is still there after `timeout`, and give up after as long again (what
        remains is then reported by teardown.leftovers, never waited for forever)."""
        shims = sorted(set(shims) | set(processes_naming(str(self.paths.socket).encode())))
        deadline, killed = time.monotonic() + timeout, False
        while alive := [pid for pid in shims if Path(f"/proc/{pid}").exists()]:
            if time.monotonic() > deadline:
                if killed:
                    return
                for pid in alive:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                deadline, killed = time.monotonic() + timeout, True
            time.sleep(0.1)

    def remove_all_tasks(self) -> None:
        """Kill every container of its k8s.io namespace (their shims exit with them) and remove them."""
        if self.process is None or self.process.poll() is not None:
            return
        for line in ctr(self.paths, "tasks", "ls", "-q").stdout.split():
            ctr(self.paths, "tasks", "kill", "-a", "-s", "SIGKILL", line)
        deadline = time.monotonic() + 10
        while ctr(self.paths, "tasks", "ls", "-q").stdout.strip() and time.monotonic() < deadline:
            for line in ctr(self.paths, "tasks", "ls", "-q").stdout.split():
                ctr(self.paths, "tasks", "rm", "-f", line)
            time.sleep(0.2)
        for line in ctr(self.paths, "containers", "ls", "-q").stdout.split():
            ctr(self.paths, "containers", "rm", line)

    def ensure_image(self, archive: Path, name: str) -> bool:
        """Import `archive` as `name` unless containerd already holds that very image; True when it imported.
        Its root outlives the node under the cache, so a warm run imports nothing."""
        if image_digest(self.paths, name) == archive_digest(archive):
            return False
        self.import_image(archive, name)
        return True

    def import_image(self, archive: Path, name: str) -> None:
        """An OCI archive whose one reference is `name`'s tag, imported as `name` (and no other name: CRI would
        resolve the image by whichever name came first)."""
        repository, tag = name.rsplit(":", 1)
        done = ctr(self.paths, "images", "import", "--base-name", repository, str(archive))
        if done.returncode != 0:
            raise RuntimeError(f"ctr images import {archive}: {done.stderr.strip()}")
        if name not in ctr(self.paths, "images", "ls", "-q").stdout.split():
            raise RuntimeError(f"{archive} holds no image tagged {tag!r}")
