"""Servers a tenant would point a run at, on 127.0.0.1, that record which process connected to them.

A test of "the operator never talks to a tenant's URI" cannot trust the operator's own account: each server
looks up the process that owns the client end of every connection it accepts (from /proc/net/tcp and each
process's file descriptors, while the connection is open) and records its PID.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def _hex_port(port: int) -> str:
    return f"{port:04X}"


def socket_inode(local_port: int, remote_port: int) -> int | None:
    """The inode of the socket whose local port is `local_port` and remote port `remote_port` (the client end)."""
    for table in _TCP_TABLES:
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if local.endswith(":" + _hex_port(local_port)) and remote.endswith(":" + _hex_port(remote_port)):
                return int(inode)
    return None


_SOCKET_LINK = re.compile(r"^socket:\[(\d+)\]$")


def inode_owner(inode: int) -> int | None:
    """The PID of a process holding the socket `inode` open."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                try:
                    match = _SOCKET_LINK.match(os.readlink(fd.path))
                except OSError:
                    continue
                if match and int(match.group(1)) == inode:
                    return int(entry.name)
        except OSError:
            continue
    return None


def peer_pid(connection: socket.socket) -> int | None:
    """The PID of the process at the other end of an accepted loopback connection."""
    _, client_port = connection.getpeername()[:2]
    _, server_port = connection.getsockname()[:2]
    inode = socket_inode(client_port, server_port)
    return None if inode is None else inode_owner(inode)


@dataclass
class RecordingServer:
    """Accepts connections on 127.0.0.1 and records who connected. `reply` is sent to each (None: never answer,
    holding the connection open, like a scheduler address that never answers)."""

    reply: bytes | None
    peers: list[int | None] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"tenant-server-{self.port}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.peers.append(peer_pid(connection))
            if self.reply is None:
                self._held.append(connection)
                continue
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            try:
                self.requests.append(connection.recv(65536))
                assert self.reply is not None
                connection.sendall(self.reply)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for connection in self._held:
            connection.close()
        self._thread.join(timeout=5)


@contextmanager
def recording_server(reply: bytes | None) -> Iterator[RecordingServer]:
    server = RecordingServer(reply)
    try:
        yield server
    finally:
        server.close()


def metadata_reply(marker: str) -> bytes:
    """What a cloud metadata endpoint might answer: credentials, here a marker a test looks for everywhere."""
    body = f'{{"AccessKeyId": "{marker}", "SecretAccessKey": "{marker}", "Token": "{marker}"}}'.encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return head + body
