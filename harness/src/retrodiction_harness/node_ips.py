"""Pod addresses in 127.0.0.0/8: one per pod, handed out in turn from .2 upward, reused once the pod is gone.

In turn rather than lowest-free: a pod's address comes back only after the rest of the range has been used, so a
new pod does not find its port still held in TIME_WAIT by the previous owner of the address (pods have no
network namespace of their own here).

Several stand-ins may run on one machine at once (two e2e sessions, or `up` next to pytest). Each claims a /24
of its own, 127.0.<k>.0/24 with the lowest free k, by holding an flock on a file named after it for as long as
it runs; the kernel releases the lock when the process ends, however it ends. Pods of the first stand-in get
127.0.0.2, 127.0.0.3, ...; 127.0.0.1 is the node's own address (API server, control plane).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "retrodiction-node-standin"


class AddressPoolExhaustedError(RuntimeError):
    pass


class PodAddressPool:
    def __init__(self, prefix: str, first: int = 2, last: int = 254) -> None:
        self.prefix = prefix
        self._first = first
        self._next = first
        self._last = last
        self._in_use: set[int] = set()
        self._lock = threading.Lock()

    def allocate(self) -> str:
        with self._lock:
            size = self._last - self._first + 1
            for offset in range(size):
                host = self._first + (self._next - self._first + offset) % size
                if host not in self._in_use:
                    self._in_use.add(host)
                    self._next = host + 1 if host < self._last else self._first
                    return f"{self.prefix}.{host}"
        raise AddressPoolExhaustedError(f"all of {self.prefix}.{self._first}-{self._last} are in use")

    def release(self, address: str) -> None:
        prefix, _, host = address.rpartition(".")
        if prefix == self.prefix:
            with self._lock:
                self._in_use.discard(int(host))

    @property
    def in_use(self) -> list[str]:
        with self._lock:
            return [f"{self.prefix}.{host}" for host in sorted(self._in_use)]


class SubnetClaim:
    """An exclusive claim on 127.0.<k>.0/24 among the stand-ins of this machine (held until `release`)."""

    def __init__(self, lock_dir: Path = LOCK_DIR) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        for k in range(256):
            fd = os.open(lock_dir / f"127.0.{k}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd: int | None = fd
            self.prefix = f"127.0.{k}"
            return
        raise AddressPoolExhaustedError(f"every 127.0.<k>.0/24 is claimed (locks in {lock_dir})")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
