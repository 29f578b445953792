"""Pod status as a kubelet reports it, from the stand-in's view of its containers (pure functions).

Phase and conditions follow the kubelet's rules (pkg/kubelet/kubelet_pods.go getPhase and the status manager):
the pod is Pending until every container has started at least once, Running while any runs or will restart,
and Succeeded/Failed when none runs and none will restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JsonObject = dict[str, Any]

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
TERMINAL_PHASES = frozenset({SUCCEEDED, FAILED})
# Condition types this stand-in owns; any other (readiness gates, DisruptionTarget) is kept as found.
OWNED_CONDITIONS = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Running:
    started_at: float


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    finished_at: float
    started_at: float | None = None
    message: str = ""
    container_id: str = ""


State = Waiting | Running | Terminated


@dataclass(frozen=True)
class ContainerView:
    name: str
    image: str
    state: State
    last_state: Terminated | None = None
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    container_id: str = ""


def rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def state_json(state: State | None) -> JsonObject:
    if state is None:
        return {}
    if isinstance(state, Waiting):
        waiting: JsonObject = {"reason": state.reason}
        if state.message:
            waiting["message"] = state.message
        return {"waiting": waiting}
    if isinstance(state, Running):
        return {"running": {"startedAt": rfc3339(state.started_at)}}
    terminated: JsonObject = {
        "exitCode": state.exit_code,
        "reason": state.reason,
        "finishedAt": rfc3339(state.finished_at),
        "startedAt": rfc3339(state.started_at if state.started_at is not None else state.finished_at),
    }
    if state.message:
        terminated["message"] = state.message
    if state.container_id:
        terminated["containerID"] = state.container_id
    return {"terminated": terminated}


def container_status_json(view: ContainerView) -> JsonObject:
    status: JsonObject = {
        "name": view.name,
        "image": view.image,
        "imageID": f"standin://{view.image}",
        "state": state_json(view.state),
        "lastState": state_json(view.last_state),
        "ready": view.ready,
        "started": view.started,
        "restartCount": view.restart_count,
    }
    if view.container_id:
        status["containerID"] = view.container_id
    return status


@dataclass
class _Tally:
    """How many of a pod's app containers are running, have stopped (and of those exited 0), or never ran."""

    running: int = 0
    stopped: int = 0
    succeeded: int = 0
    waiting: int = 0


def _tally(views: Sequence[ContainerView]) -> _Tally:
    tally = _Tally()
    for view in views:
        if isinstance(view.state, Running):
            tally.running += 1
        elif isinstance(view.state, Terminated):
            tally.stopped += 1
            tally.succeeded += view.state.exit_code == 0
        elif view.last_state is not None:
            tally.stopped += 1  # waiting to restart after having run
        else:
            tally.waiting += 1
    return tally


def _app_phase(restart_policy: str, tally: _Tally) -> str:
    """The phase once the init containers are done, from the app containers (the kubelet's getPhase)."""
    if tally.waiting or not (tally.running or tally.stopped):
        return PENDING
    if tally.running or restart_policy == "Always":
        return RUNNING
    if tally.stopped == tally.succeeded:
        return SUCCEEDED
    return FAILED if restart_policy == "Never" else RUNNING


def pod_phase(restart_policy: str, init_done: bool, init_failed: bool, views: Sequence[ContainerView]) -> str:
    if init_failed:
        return FAILED
    if not init_done:
        return PENDING
    return _app_phase(restart_policy, _tally(views))


def _condition(cond_type: str, ok: bool, reason: str = "", message: str = "") -> JsonObject:
    condition: JsonObject = {"type": cond_type, "status": "True" if ok else "False"}
    if reason and not ok:
        condition["reason"] = reason
    if message and not ok:
        condition["message"] = message
    return condition


def pod_conditions(
    existing: Sequence[JsonObject], readiness_gates: Sequence[str], phase: str, view: PodView, now: float
) -> list[JsonObject]:
    """The conditions the stand-in owns (scheduled, initialized, ready), each keeping its lastTransitionTime while
    its status stays, followed by the others (readiness gates') as they were."""
    by_type = {c.get("type"): c for c in existing}
    init_done, views = view.init_done, view.views
    unready = [v.name for v in views if not v.ready]
    if phase in TERMINAL_PHASES:
        containers_ready = _condition("ContainersReady", False, "PodCompleted")
        ready = _condition("Ready", False, "PodCompleted")
    else:
        message = f"containers with unready status: [{' '.join(unready)}]"
        containers_ready = _condition("ContainersReady", not unready, "ContainersNotReady", message)
        gates_down = [g for g in readiness_gates if (by_type.get(g) or {}).get("status") != "True"]
        if unready:
            ready = _condition("Ready", False, "ContainersNotReady", message)
        else:
            gate_message = f"corresponding condition of pod readiness gate {gates_down} does not exist or is False"
            ready = _condition("Ready", not gates_down, "ReadinessGatesNotReady", gate_message)
    owned = [
        _condition("PodScheduled", True),
        _condition("Initialized", init_done, "ContainersNotInitialized", "containers with incomplete status"),
        containers_ready,
        ready,
    ]
    for condition in owned:
        previous = by_type.get(condition["type"])
        if (
            previous is not None
            and previous.get("status") == condition["status"]
            and previous.get("lastTransitionTime")
        ):
            condition["lastTransitionTime"] = previous["lastTransitionTime"]
        else:
            condition["lastTransitionTime"] = rfc3339(now)
        condition["lastProbeTime"] = None
    others = [c for c in existing if c.get("type") not in OWNED_CONDITIONS]
    return owned + others


@dataclass(frozen=True)
class PodView:
    """Everything the stand-in knows about one pod that its status depends on."""

    pod_ip: str
    host_ip: str
    start_time: float
    restart_policy: str
    init_done: bool
    init_failed: bool
    init_views: Sequence[ContainerView]
    views: Sequence[ContainerView]
    message: str = ""


def pod_status(existing: JsonObject, readiness_gates: Sequence[str], view: PodView, now: float) -> JsonObject:
    """The full status to write: `existing` (as read from the API) with the stand-in's fields replaced."""
    phase = pod_phase(view.restart_policy, view.init_done, view.init_failed, view.views)
    if existing.get("phase") in TERMINAL_PHASES:
        phase = existing["phase"]  # the API server refuses to leave a terminal phase
    status = dict(existing)
    status.update(
        {
            "phase": phase,
            "conditions": pod_conditions(existing.get("conditions") or [], readiness_gates, phase, view, now),
            "hostIP": view.host_ip,
            "hostIPs": [{"ip": view.host_ip}],
            "podIP": view.pod_ip,
            "podIPs": [{"ip": view.pod_ip}],
            "startTime": existing.get("startTime") or rfc3339(view.start_time),
            "containerStatuses": [container_status_json(v) for v in view.views],
        }
    )
    if view.init_views:
        status["initContainerStatuses"] = [container_status_json(v) for v in view.init_views]
    if view.message:
        status["message"] = view.message
    return status
