"""The node stand-in reports pod phase, conditions and container statuses with the kubelet's rules."""

from typing import Any

from retrodiction_harness.node_status import (
    ContainerView,
    PodView,
    Running,
    Terminated,
    Waiting,
    pod_conditions,
    pod_phase,
    pod_status,
    rfc3339,
)

T0 = 1_800_000_000.0


def running(name: str = "c", ready: bool = True) -> ContainerView:
    return ContainerView(name, "img", Running(T0), ready=ready, started=True)


def exited(code: int, name: str = "c") -> ContainerView:
    return ContainerView(name, "img", Terminated(code, "Completed" if code == 0 else "Error", T0 + 1, T0))


def backing_off(name: str = "c") -> ContainerView:
    return ContainerView(name, "img", Waiting("CrashLoopBackOff"), last_state=Terminated(1, "Error", T0 + 1, T0))


def started(views: list[ContainerView]) -> PodView:
    """A running pod whose init containers are done."""
    return PodView("127.0.0.4", "127.0.0.1", T0, "Always", True, False, [], views)


def test_phase_is_pending_until_every_container_has_started() -> None:
    assert pod_phase("Always", True, False, [running(), ContainerView("d", "img", Waiting("ServiceNotReady"))]) == (
        "Pending"
    )
    assert pod_phase("Always", False, False, []) == "Pending"


def test_phase_follows_the_restart_policy_once_containers_have_run() -> None:
    assert pod_phase("Always", True, False, [running(), exited(0, "d")]) == "Running"
    assert pod_phase("Always", True, False, [backing_off()]) == "Running"
    assert pod_phase("Never", True, False, [exited(0), exited(0, "d")]) == "Succeeded"
    assert pod_phase("Never", True, False, [exited(0), exited(2, "d")]) == "Failed"
    assert pod_phase("OnFailure", True, False, [exited(0)]) == "Succeeded"
    assert pod_phase("OnFailure", True, False, [backing_off()]) == "Running"
    assert pod_phase("Never", False, True, []) == "Failed"


def test_ready_needs_every_container_ready_and_every_readiness_gate_true() -> None:
    conditions = pod_conditions([], [], "Running", started([running(), running("d", ready=False)]), T0)
    by_type = {c["type"]: c for c in conditions}
    assert by_type["ContainersReady"]["status"] == "False"
    assert by_type["Ready"]["message"] == "containers with unready status: [d]"
    gate: dict[str, Any] = {"type": "example.com/gate", "status": "False"}
    conditions = pod_conditions([gate], ["example.com/gate"], "Running", started([running()]), T0)
    by_type = {c["type"]: c for c in conditions}
    assert (by_type["ContainersReady"]["status"], by_type["Ready"]["status"]) == ("True", "False")
    assert by_type["example.com/gate"] == gate


def test_transition_times_change_only_when_a_condition_changes() -> None:
    before = pod_conditions([], [], "Running", started([running(ready=False)]), T0)
    after = pod_conditions(before, [], "Running", started([running(ready=True)]), T0 + 60)
    times = {c["type"]: c["lastTransitionTime"] for c in after}
    assert times["PodScheduled"] == rfc3339(T0)
    assert times["Ready"] == rfc3339(T0 + 60)


def test_status_carries_addresses_and_container_states_and_keeps_a_terminal_phase() -> None:
    view = PodView("127.0.0.4", "127.0.0.1", T0, "Always", True, False, [], [running()])
    status = pod_status({"qosClass": "BestEffort"}, [], view, T0)
    assert (status["podIP"], status["podIPs"], status["hostIP"]) == ("127.0.0.4", [{"ip": "127.0.0.4"}], "127.0.0.1")
    assert status["qosClass"] == "BestEffort"
    assert status["containerStatuses"][0]["state"] == {"running": {"startedAt": rfc3339(T0)}}
    assert pod_status({"phase": "Failed"}, [], view, T0)["phase"] == "Failed"
