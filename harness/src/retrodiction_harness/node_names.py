"""Cluster DNS for the node stand-in: Service names in args and env become ready endpoint addresses.

There is no cluster DNS (and the machine's resolver must never be asked for a cluster name), so before a
container starts, every Service name it mentions is replaced by the address of a ready endpoint of that Service,
with the Service port replaced by the endpoint's (target) port.

Where the addresses come from is node_endpoints' business (`Lookup`). Recognised forms:

- `<svc>.<ns>.svc.cluster.local` and `<svc>.<ns>.svc` anywhere: always a Service; the container waits until the
  Service has a ready endpoint (as a pod crash-loops until its DNS name resolves).
- `<svc>.<ns>` and bare `<svc>` (the pod's namespace) only in a host position - after `scheme://` or `user@`, or
  directly followed by `:<port>` - and only when such a Service exists: otherwise they are ordinary words (a
  Python module name, a file name) and are left alone.

The literal `0.0.0.0` becomes the pod's own address: all pods share one network namespace, so two pods binding
0.0.0.0:8786 would collide, and binding the pod address is what 0.0.0.0 means inside a pod.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
# Boundaries: a name never continues with a name character, and never with a dot followed by one.
_BEFORE = r"(?<![-A-Za-z0-9_.])"
_AFTER = r"(?![-A-Za-z0-9_]|\.[A-Za-z0-9])"
_PORT = r"(?::(?P<port>\d{1,5})(?!\d))?"
_SCHEME = r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^/@\s]*@)?)"
_QUALIFIED = re.compile(
    rf"{_SCHEME}?{_BEFORE}(?P<svc>{_LABEL})\.(?P<ns>{_LABEL})\.svc(?:\.cluster\.local)?\.?{_AFTER}{_PORT}"
)
_SHORT_IN_URL = re.compile(rf"{_SCHEME}(?P<svc>{_LABEL})(?:\.(?P<ns>{_LABEL}))?\.?{_AFTER}{_PORT}")
_SHORT_WITH_PORT = re.compile(rf"{_BEFORE}(?P<svc>{_LABEL})(?:\.(?P<ns>{_LABEL}))?:(?P<port>\d{{1,5}})(?![\d.:])")
_ANY_ADDRESS = re.compile(r"(?<![\d.])0\.0\.0\.0(?![\d]|\.\d)")

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
LOCAL_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class ReadyEndpoint:
    """A ready endpoint of a Service: its address and, per Service port, the port to dial on it."""

    address: str
    ports: Mapping[int, int] = field(default_factory=dict)


class NotReady:
    """The Service exists but has no ready endpoint yet."""


NOT_READY = NotReady()
# None: no such Service.
Lookup = Callable[[str, str], ReadyEndpoint | NotReady | None]


@dataclass(frozen=True)
class _Ref:
    start: int
    end: int
    service: str
    namespace: str
    port: int | None
    scheme: str | None
    qualified: bool


def _references(text: str, own_namespace: str) -> list[_Ref]:
    refs: list[_Ref] = []
    taken: list[tuple[int, int]] = []

    def add(match: re.Match[str], qualified: bool) -> None:
        # A scheme and user info stay as written: only host and port are replaced.
        start, end = match.start("svc"), match.end()
        if any(s < end and start < e for s, e in taken):
            return
        service = match.group("svc")
        if not qualified and match.group("ns") is None and service in LOCAL_NAMES:
            return
        taken.append((start, end))
        port = match.group("port")
        groups = match.groupdict()
        refs.append(
            _Ref(
                start=start,
                end=end,
                service=service,
                namespace=match.group("ns") or own_namespace,
                port=int(port) if port else None,
                scheme=(groups.get("scheme") or "").lower() or None,
                qualified=qualified,
            )
        )

    for match in _QUALIFIED.finditer(text):
        add(match, qualified=True)
    for match in _SHORT_IN_URL.finditer(text):
        add(match, qualified=False)
    for match in _SHORT_WITH_PORT.finditer(text):
        add(match, qualified=False)
    return sorted(refs, key=lambda ref: ref.start)


@dataclass
class Rewrite:
    text: str
    # "<svc>.<ns>" of Services that are mentioned but have no ready endpoint yet.
    waiting_for: list[str]


def resolve_services(text: str, own_namespace: str, lookup: Lookup) -> Rewrite:
    out: list[str] = []
    waiting: list[str] = []
    cursor = 0
    for ref in _references(text, own_namespace):
        target = lookup(ref.namespace, ref.service)
        if target is None:
            if ref.qualified:
                waiting.append(f"{ref.service}.{ref.namespace}")
            continue
        if isinstance(target, NotReady):
            waiting.append(f"{ref.service}.{ref.namespace}")
            continue
        port = ref.port if ref.port is not None else DEFAULT_PORTS.get(ref.scheme or "")
        replacement = target.address
        if port is not None:
            mapped = target.ports.get(port, port)
            if ref.port is not None or mapped != port:
                replacement += f":{mapped}"
        out.append(text[cursor : ref.start])
        out.append(replacement)
        cursor = ref.end
    out.append(text[cursor:])
    return Rewrite("".join(out), sorted(set(waiting)))


def bind_to_pod_address(text: str, pod_ip: str) -> str:
    return _ANY_ADDRESS.sub(pod_ip, text)
