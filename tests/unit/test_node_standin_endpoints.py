"""The node stand-in finds a Service's ready endpoint among its pods, as the endpointslice controller would."""

from typing import Any

from retrodiction_harness.node_endpoints import api_server_endpoint, ready_endpoint
from retrodiction_harness.node_names import NOT_READY, ReadyEndpoint

SERVICE: dict[str, Any] = {
    "spec": {
        "selector": {"app": "web"},
        "ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "admin", "port": 9000, "targetPort": 9001},
        ],
    }
}


def pod(ip: str, *, ready: bool = True, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"} if labels is None else labels, **extra.get("metadata", {})},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {
            "podIP": ip,
            "phase": extra.get("phase", "Running"),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_the_ready_selected_pod_with_the_lowest_address_serves_with_named_ports_resolved() -> None:
    pods = [pod("127.0.0.12"), pod("127.0.0.3"), pod("127.0.0.2", labels={"app": "other"})]
    assert ready_endpoint(SERVICE, pods) == ReadyEndpoint("127.0.0.3", {80: 8080, 9000: 9001})


def test_unready_terminating_finished_and_addressless_pods_do_not_serve() -> None:
    pods = [
        pod("127.0.0.2", ready=False),
        pod("127.0.0.3", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}),
        pod("127.0.0.4", phase="Succeeded"),
        pod(""),
    ]
    assert ready_endpoint(SERVICE, pods) is NOT_READY


def test_publish_not_ready_addresses_lets_unready_pods_serve() -> None:
    service = {"spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    assert ready_endpoint(service, [pod("127.0.0.2", ready=False)]) == ReadyEndpoint(
        "127.0.0.2", {80: 8080, 9000: 9001}
    )


def test_a_service_without_selector_has_no_ready_endpoint_here() -> None:
    assert ready_endpoint({"spec": {"ports": []}}, [pod("127.0.0.2")]) is NOT_READY


def test_the_kubernetes_service_is_the_api_server_on_loopback() -> None:
    assert api_server_endpoint("https://127.0.0.1:6443") == ReadyEndpoint("127.0.0.1", {443: 6443})
