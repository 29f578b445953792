"""The command line's reads of a run in the cluster, with the user's kubeconfig: each object read raw and capped
(summary_sources.py decides what to make of it), every refusal turned into one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction.bounded import TooLargeError, read_at_most
from retrodiction.identity import GROUP, SCHEDULES, TRAININGS, VERSION
from retrodiction.kube_client import reason, status_code
from retrodiction.summary_sources import MAX_OBJECT_BYTES, SourceError

REQUEST_TIMEOUT = (10, 60)
# A schedule's runs, listed: its history limits keep at most a couple of thousand, each a few KiB.
MAX_LIST_BYTES = 32 * 1024 * 1024


class KubeClusterReader:
    """summary_sources.ClusterReader over the Kubernetes API."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    def run(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._read(
            f"rt/{name} in namespace {namespace}",
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, TRAININGS, name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._read(
            f"ConfigMap {name} in namespace {namespace}",
            lambda: self.core.read_namespaced_config_map(
                name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def schedule(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._read(
            f"rs/{name} in namespace {namespace}",
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, SCHEDULES, name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def runs(self, namespace: str, selector: str) -> list[Mapping[str, Any]]:
        listed = self._read(
            f"the runs in namespace {namespace}",
            lambda: self.custom.list_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                TRAININGS,
                label_selector=selector,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            ),
            limit=MAX_LIST_BYTES,
        )
        items = (listed or {}).get("items")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    @staticmethod
    def _read(what: str, call: Callable[[], Any], *, limit: int = MAX_OBJECT_BYTES) -> Mapping[str, Any] | None:
        try:
            response = call()
        except ApiException as err:
            code = status_code(err)
            if code == 404:
                return None
            if code in (401, 403):
                raise SourceError(f"{what}: the kubeconfig's credentials may not read it ({reason(err)})") from None
            raise SourceError(f"{what}: the API server refused the read ({reason(err)})") from None
        except OSError as err:  # urllib3's connection errors are OSErrors
            raise SourceError(f"{what}: cannot reach the API server ({type(err).__name__})") from None
        try:
            blob = read_at_most(response, limit, what)
        except TooLargeError as err:
            raise SourceError(str(err)) from None
        finally:
            response.release_conn()
        try:
            obj = json.loads(blob)
        except ValueError:
            raise SourceError(f"{what}: the API server's answer is not JSON") from None
        if not isinstance(obj, dict):
            raise SourceError(f"{what}: the API server's answer is not an object")
        return obj
