"""What the operator's and the drivers' Kubernetes clients share: how to connect, and how to read answers."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException


def api_client() -> client.ApiClient:
    """In a pod, the ServiceAccount; elsewhere KUBECONFIG (or ~/.kube/config)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def context_namespace() -> str:
    """The namespace of the kubeconfig's current context, as kubectl takes it: `default` when it names none."""
    try:
        _, context = config.list_kube_config_contexts()
        return str(context.get("context", {}).get("namespace") or "default")
    except (config.ConfigException, OSError):
        return "default"


def status_code(err: ApiException) -> int:
    return int(err.status or 0)


def reason(err: ApiException) -> str:
    """The API server's message for a refused request (a Status object's `message`), on one line."""
    try:
        message = str(json.loads(err.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return " ".join(f"{err.status} {err.reason}: {message}".split())[:512]


def as_dict(obj: object) -> dict[str, Any]:
    # The custom-objects API returns plain JSON dicts but is typed as returning `object`.
    if not isinstance(obj, dict):
        raise TypeError(f"expected a JSON object from the API server, got {type(obj).__name__}")
    return obj
