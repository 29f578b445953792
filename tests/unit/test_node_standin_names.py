"""The node stand-in replaces Service names with ready endpoint addresses, and 0.0.0.0 with the pod address."""

from retrodiction_harness.node_names import (
    NOT_READY,
    NotReady,
    ReadyEndpoint,
    bind_to_pod_address,
    resolve_services,
)

SCHEDULER = ReadyEndpoint("127.0.0.5", {8786: 8786, 80: 8080})


def lookup(namespace: str, service: str) -> ReadyEndpoint | NotReady | None:
    if (namespace, service) in (("ns", "sched"), ("other", "sched")):
        return SCHEDULER
    if service == "starting":
        return NOT_READY
    return None


def rewrite(text: str) -> tuple[str, list[str]]:
    result = resolve_services(text, "ns", lookup)
    return result.text, result.waiting_for


def test_qualified_names_become_the_endpoint_address_with_the_target_port() -> None:
    assert rewrite("tcp://sched.ns.svc.cluster.local:8786") == ("tcp://127.0.0.5:8786", [])
    assert rewrite("http://sched.other.svc:80/status") == ("http://127.0.0.5:8080/status", [])
    assert rewrite("--addr=sched.ns.svc.cluster.local.") == ("--addr=127.0.0.5", [])


def test_a_url_without_port_gets_the_target_of_the_schemes_default_port() -> None:
    assert rewrite("http://sched.ns.svc/") == ("http://127.0.0.5:8080/", [])


def test_short_names_are_replaced_only_in_host_position_and_only_for_existing_services() -> None:
    assert rewrite("http://sched/x") == ("http://127.0.0.5:8080/x", [])
    assert rewrite("sched:8786") == ("127.0.0.5:8786", [])
    assert rewrite("tcp://user@sched.other:8786") == ("tcp://user@127.0.0.5:8786", [])
    assert rewrite("sched") == ("sched", [])
    assert rewrite("-m retrodiction.cli") == ("-m retrodiction.cli", [])
    assert rewrite("http://example.com:80/") == ("http://example.com:80/", [])
    assert rewrite("localhost:8080") == ("localhost:8080", [])


def test_services_without_ready_endpoint_are_reported_as_waited_for() -> None:
    assert rewrite("tcp://starting.ns.svc.cluster.local:1") == (
        "tcp://starting.ns.svc.cluster.local:1",
        ["starting.ns"],
    )
    assert rewrite("http://missing.ns.svc/") == ("http://missing.ns.svc/", ["missing.ns"])
    assert rewrite("starting:80") == ("starting:80", ["starting.ns"])


def test_the_unspecified_address_becomes_the_pod_address() -> None:
    assert bind_to_pod_address("--host 0.0.0.0 --dashboard-address 0.0.0.0:8787", "127.0.0.9") == (
        "--host 127.0.0.9 --dashboard-address 127.0.0.9:8787"
    )
    assert bind_to_pod_address("10.0.0.0 0.0.0.01 1.0.0.0.0", "127.0.0.9") == "10.0.0.0 0.0.0.01 1.0.0.0.0"
