"""Raw JSON access to the Kubernetes API for the node stand-in.

The stand-in works on objects as the API serves them (camelCase dicts): the generated models of the official
client would add a validation and conversion layer for nothing, and a kubelet only ever needs a few verbs.
Authentication and TLS still come from the official client's kubeconfig loader.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes.client import ApiClient, Configuration
from kubernetes.config import load_kube_config
from kubernetes.watch.watch import iter_resp_lines

JsonObject = dict[str, Any]
Params = Mapping[str, str | int | bool]

# A request that takes longer than this is stuck; watches set their own server-side timeout.
REQUEST_TIMEOUT = 30.0


class ApiError(Exception):
    """A non-2xx answer of the API server."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"{status} {reason}: {body[:500]}")
        self.status = status
        self.reason = reason
        self.body = body


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KubeRest:
    """A thin, thread-safe JSON client over one official `ApiClient` (its connection pool and credentials)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        config = client.configuration
        self.server: str = config.host
        ca_file = config.ssl_ca_cert
        self.ca_data: bytes | None = Path(ca_file).read_bytes() if ca_file else None

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path) -> KubeRest:
        config = Configuration()
        path = str(kubeconfig)
        load_kube_config(config_file=path, client_configuration=config, persist_config=False)
        # Pod workers, watches and heartbeats share one pool; at the default size urllib3 would keep discarding
        # and reopening connections.
        config.connection_pool_maxsize = 32
        if is_loopback_host(urlsplit(config.host).hostname or ""):
            config.proxy = None  # a proxy from the environment must never carry traffic meant for 127.0.0.1
        return cls(ApiClient(configuration=config))

    @property
    def server_is_loopback(self) -> bool:
        return is_loopback_host(urlsplit(self.server).hostname or "")

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> KubeRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(
        self, method: str, path: str, params: Params | None, body: object, timeout: float | tuple[float, float]
    ) -> Any:
        query = [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (params or {}).items()]
        # The stand-in's only PATCH is a JSON merge patch (merge_patch).
        content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
        headers = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self.client.param_serialize(
            method, path, query_params=query, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        return self.client.call_api(*serialized, _request_timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: object = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> JsonObject:
        response = self._send(method, path, params, body, timeout)
        data: bytes = response.read()
        if not 200 <= response.status <= 299:
            raise ApiError(response.status, str(response.reason), data.decode("utf-8", "replace"))
        result: JsonObject = json.loads(data) if data else {}
        return result

    def get(self, path: str, params: Params | None = None) -> JsonObject:
        return self.request("GET", path, params=params)

    def get_or_none(self, path: str) -> JsonObject | None:
        try:
            return self.get(path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list_items(self, path: str, params: Params | None = None) -> Sequence[JsonObject]:
        items: list[JsonObject] = self.get(path, params).get("items") or []
        return items

    def create(self, path: str, body: JsonObject) -> JsonObject:
        return self.request("POST", path, body=body)

    def replace(self, path: str, body: JsonObject) -> JsonObject:
        return self.request("PUT", path, body=body)

    def merge_patch(self, path: str, body: JsonObject) -> JsonObject:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str, body: JsonObject | None = None, missing_ok: bool = True) -> None:
        try:
            self.request("DELETE", path, body=body)
        except ApiError as error:
            if not (missing_ok and error.status == 404):
                raise

    def watch(self, path: str, params: Params, timeout_seconds: int) -> WatchStream:
        """A watch from `params["resourceVersion"]`; the server ends it after `timeout_seconds`."""
        query = {**params, "watch": True, "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": True}
        response = self._send("GET", path, query, None, (10.0, timeout_seconds + 30.0))
        if not 200 <= response.status <= 299:
            data: bytes = response.read()
            raise ApiError(response.status, str(response.reason), data.decode("utf-8", "replace"))
        return WatchStream(response.response)


class WatchStream:
    """The events of one watch request; `close()` from another thread ends the iteration promptly."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[JsonObject]:
        try:
            for line in iter_resp_lines(self._response):
                if self._closed.is_set():
                    return
                if line:
                    event: JsonObject = json.loads(line)
                    yield event
        except Exception:
            if not self._closed.is_set():
                raise

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        # shutdown() unblocks a reader stuck in recv(); close() alone would wait for it. A watch the server has
        # already ended has handed its connection back to the pool and needs neither.
        with contextlib.suppress(Exception):
            self._response.shutdown()
        with contextlib.suppress(Exception):
            self._response.release_conn()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kubeconfig_for_token(server: str, ca_data: bytes | None, token: str, namespace: str) -> JsonObject:
    """A kubeconfig (as a dict) that authenticates with a bearer token, as a pod's service account would."""
    cluster: JsonObject = {"server": server}
    if ca_data is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "serviceaccount", "user": {"token": token}}],
        "contexts": [
            {"name": "pod", "context": {"cluster": "local", "user": "serviceaccount", "namespace": namespace}}
        ],
        "current-context": "pod",
    }
