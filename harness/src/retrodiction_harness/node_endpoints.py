"""Ready endpoints of a Service on the stand-in node, computed from the Service's pods.

EndpointSlices cannot carry them: the API server refuses loopback addresses in EndpointSlices and Endpoints
(ValidateNonSpecialIP: "may not be in the loopback range (127.0.0.0/8, ::1/128)"), so with pods at 127.0.0.N the
endpointslice controller never publishes an endpoint (it keeps retrying and reports FailedToUpdateEndpointSlices
on the Service). The stand-in applies that controller's rule itself: a pod selected by `spec.selector`, with a pod
IP, neither terminating nor finished, and Ready (any pod with `publishNotReadyAddresses`); a named targetPort is
looked up in the pod's container ports. Tests that need a Service's address use `service_endpoint`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from kubernetes.client import ApiClient

from retrodiction_harness.node_api import KubeRest
from retrodiction_harness.node_names import NOT_READY, NotReady, ReadyEndpoint

JsonObject = dict[str, Any]


def label_selector(selector: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def pod_is_ready(pod: JsonObject) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def serves(pod: JsonObject, selector: Mapping[str, str], publish_not_ready: bool) -> bool:
    """Whether the endpointslice controller would list `pod` as a ready endpoint of a Service with `selector`."""
    labels = pod.get("metadata", {}).get("labels") or {}
    status = pod.get("status") or {}
    return (
        bool(selector)
        and all(labels.get(key) == value for key, value in selector.items())
        and _loopback(str(status.get("podIP") or ""))
        and not pod.get("metadata", {}).get("deletionTimestamp")
        and status.get("phase") not in ("Succeeded", "Failed")
        and (publish_not_ready or pod_is_ready(pod))
    )


def _target_port(service_port: JsonObject, pod: JsonObject) -> int | None:
    target: int | str = service_port.get("targetPort") or service_port["port"]
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared["containerPort"])
    return None


def ready_endpoint(service: JsonObject, pods: Sequence[JsonObject]) -> ReadyEndpoint | NotReady:
    """The ready endpoint with the lowest address (so every container of a pod, every restart, gets the same)."""
    spec = service.get("spec") or {}
    selector: Mapping[str, str] = spec.get("selector") or {}
    candidates = [pod for pod in pods if serves(pod, selector, bool(spec.get("publishNotReadyAddresses")))]
    if not candidates:
        return NOT_READY
    pod = min(candidates, key=lambda p: ipaddress.ip_address(p["status"]["podIP"]))
    ports: dict[int, int] = {}
    for service_port in spec.get("ports") or []:
        target = _target_port(service_port, pod)
        if target is not None:
            ports[int(service_port["port"])] = target
    return ReadyEndpoint(str(pod["status"]["podIP"]), ports)


def api_server_endpoint(server: str) -> ReadyEndpoint:
    """`kubernetes.default.svc` is the API server the stand-in itself talks to (on loopback), not the advertise
    address in its EndpointSlice (the machine's external address)."""
    url = urlsplit(server)
    return ReadyEndpoint(url.hostname or "127.0.0.1", {443: url.port or 443})


def lookup(rest: KubeRest, namespace: str, service: str) -> ReadyEndpoint | NotReady | None:
    """A Service's ready endpoint; None when there is no such Service (or it is an ExternalName)."""
    if (namespace, service) == ("default", "kubernetes"):
        return api_server_endpoint(rest.server)
    obj = rest.get_or_none(f"/api/v1/namespaces/{namespace}/services/{service}")
    if obj is None or (obj.get("spec") or {}).get("type") == "ExternalName":
        return None
    selector = (obj.get("spec") or {}).get("selector") or {}
    if not selector:
        return NOT_READY
    pods = rest.list_items(f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": label_selector(selector)})
    return ready_endpoint(obj, list(pods))


def service_endpoint(api: ApiClient, namespace: str, service: str, port: int) -> str | None:
    """ "<address>:<port>" to dial for `port` of a Service whose pods run on the stand-in, or None if none is ready.

    The local counterpart of the Service's DNS name; for tests and tools outside the "cluster".
    """
    found = lookup(KubeRest(api), namespace, service)
    if not isinstance(found, ReadyEndpoint):
        return None
    return f"{found.address}:{found.ports.get(port, port)}"
