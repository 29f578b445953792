"""One pod bound to the stand-in node: its containers as local processes, its status, its deletion.

Each pod has a worker thread. The node's watch thread hands it every new version of the pod object (`update`);
the worker starts containers (init containers one after the other, then the others), runs probes, restarts
crashed containers, writes the pod status through the status subresource when it changes, and on a
deletionTimestamp stops the processes (SIGTERM, SIGKILL after the grace period) and deletes the object with
gracePeriodSeconds=0, as a kubelet does.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from retrodiction_harness.node_api import ApiError, KubeRest, kubeconfig_for_token
from retrodiction_harness.node_container import Backoff, Container, Launch, NotStartableError, PodSettings
from retrodiction_harness.node_endpoints import lookup as service_lookup
from retrodiction_harness.node_env import ContainerConfigError, PodContext, container_argv, container_env
from retrodiction_harness.node_names import NotReady, ReadyEndpoint, bind_to_pod_address, resolve_services
from retrodiction_harness.node_status import TERMINAL_PHASES, PodView, pod_phase, pod_status

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

# A stopped stand-in gives its processes this long after SIGTERM (the pods are not being deleted by anyone).
SHUTDOWN_GRACE_SECONDS = 2.0
MAX_SLEEP = 5.0
SERVICE_ACCOUNT_TOKEN_SECONDS = 24 * 3600


@dataclass(frozen=True)
class NodeContext:
    """What every pod worker needs from its node."""

    rest: KubeRest
    node_name: str
    host_ip: str
    allocatable: Mapping[str, str]
    base_path: str
    backoff_base: float = 1.0
    backoff_cap: float = 30.0


def pod_key(pod: JsonObject) -> str:
    meta = pod["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


def _normalized(value: Any) -> Any:
    """JSON without nulls and empty maps/lists, for comparing what was written with what the API serves."""
    if isinstance(value, dict):
        items = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


class _ApiEnvSources:
    """ConfigMaps and Secrets for env and envFrom, read once per container start."""

    def __init__(self, rest: KubeRest) -> None:
        self._rest = rest

    def config_map(self, namespace: str, name: str) -> Mapping[str, str] | None:
        obj = self._rest.get_or_none(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        return None if obj is None else dict(obj.get("data") or {})

    def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        obj = self._rest.get_or_none(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if obj is None:
            return None
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}


class PodWorker:
    def __init__(
        self,
        pod: JsonObject,
        pod_ip: str,
        pod_dir: Path,
        node: NodeContext,
        on_exit: Callable[[PodWorker], None] = lambda worker: None,
    ) -> None:
        self.key = pod_key(pod)
        self.uid: str = pod["metadata"]["uid"]
        self.namespace: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.pod_ip = pod_ip
        self.pod_dir = pod_dir
        self._node = node
        self._on_exit = on_exit
        self._rest = node.rest
        self._lock = threading.Lock()
        self._pod = pod
        self._wake = threading.Event()
        self._vanished = False
        self._shutdown = False
        self._start_time = time.time()
        self._last_written: Any = None
        self._kubeconfig: Path | None = None
        self._sources = _ApiEnvSources(self._rest)
        spec = pod.get("spec") or {}
        self.restart_policy: str = spec.get("restartPolicy") or "Always"
        self._grace = float(spec.get("terminationGracePeriodSeconds", 30))
        for sub in ("home", "tmp", "logs"):
            (pod_dir / sub).mkdir(parents=True, exist_ok=True)
        self.init_containers = [self._container(c, init=True) for c in spec.get("initContainers") or []]
        self.containers = [self._container(c, init=False) for c in spec.get("containers") or []]
        self._init_index = 0
        self._thread = threading.Thread(target=self._run, name=f"pod-{self.key}", daemon=True)

    def _container(self, spec: JsonObject, init: bool) -> Container:
        settings = PodSettings(
            restart_policy=self.restart_policy,
            pod_ip=self.pod_ip,
            log_dir=self.pod_dir / "logs",
            grace_seconds=self._grace,
            prepare=self._prepare,
            on_exit=self._wake.set,
        )
        return Container(
            spec, init=init, pod=settings, backoff=Backoff(self._node.backoff_base, self._node.backoff_cap)
        )

    # ------------------------------------------------------------------ interface for the node

    def start(self) -> None:
        self._thread.start()

    def update(self, pod: JsonObject) -> None:
        with self._lock:
            self._pod = pod
        self._wake.set()

    def vanish(self) -> None:
        """The pod object is gone (force-deleted): kill its processes at once."""
        self._vanished = True
        self._wake.set()

    def shutdown(self) -> None:
        """The stand-in is stopping: stop the processes, leave the object to the node."""
        self._shutdown = True
        self._wake.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in self.init_containers + self.containers if c.pid is not None}

    def log_path(self, container: str) -> Path:
        for candidate in self.init_containers + self.containers:
            if candidate.name == container:
                return candidate.log_path()
        raise KeyError(f"{self.key} has no container {container!r}")

    # ------------------------------------------------------------------ the worker thread

    def _current(self) -> JsonObject:
        with self._lock:
            return self._pod

    def _run(self) -> None:
        try:
            while not (self._vanished or self._shutdown):
                pod = self._current()
                if pod["metadata"].get("deletionTimestamp"):
                    grace = float(pod["metadata"].get("deletionGracePeriodSeconds", self._grace))
                    began = time.monotonic()
                    self._terminate(grace)
                    log.info(
                        "pod %s: deleted; containers stopped in %.1f s (grace %g s)",
                        self.key,
                        time.monotonic() - began,
                        grace,
                    )
                    self._publish()
                    self._delete_object()
                    return
                now = time.monotonic()
                if not self._terminal:
                    self._advance(now)
                retry = self._publish()
                self._wake.wait(self._sleep_for(now, retry))
                self._wake.clear()
        except Exception:
            log.exception("pod worker %s failed; killing its processes", self.key)
        finally:
            try:
                self._terminate(SHUTDOWN_GRACE_SECONDS if self._shutdown else 0.0)
            finally:
                self._on_exit(self)

    @property
    def _init_done(self) -> bool:
        return self._init_index >= len(self.init_containers)

    @property
    def _init_failed(self) -> bool:
        return not self._init_done and self.init_containers[self._init_index].done

    @property
    def _terminal(self) -> bool:
        return self._phase() in TERMINAL_PHASES

    def _phase(self) -> str:
        return pod_phase(self.restart_policy, self._init_done, self._init_failed, [c.view() for c in self.containers])

    def _advance(self, now: float) -> None:
        while not self._init_done:
            init = self.init_containers[self._init_index]
            init.step(now)
            if not init.succeeded:
                return
            self._init_index += 1
        for container in self.containers:
            container.step(now)

    def _sleep_for(self, now: float, retry: bool) -> float:
        dues = [c.next_due() for c in self._running_set()]
        wait = min([d - now for d in dues if d is not None], default=MAX_SLEEP)
        if retry:
            wait = min(wait, 1.0)
        return min(max(wait, 0.05), MAX_SLEEP)

    def _running_set(self) -> list[Container]:
        if self._terminal:
            return []
        if not self._init_done:
            return [self.init_containers[self._init_index]]
        return self.containers

    def _terminate(self, grace: float) -> None:
        everything = self.init_containers + self.containers
        for container in everything:
            container.signal_stop()
        deadline = time.monotonic() + grace
        for container in everything:
            container.stop(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ API

    @property
    def _path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"

    def _view(self) -> PodView:
        return PodView(
            pod_ip=self.pod_ip,
            host_ip=self._node.host_ip,
            start_time=self._start_time,
            restart_policy=self.restart_policy,
            init_done=self._init_done,
            init_failed=self._init_failed,
            init_views=[c.view() for c in self.init_containers],
            views=[c.view() for c in self.containers],
        )

    def _publish(self) -> bool:
        """Write the status if it changed; True when it must be retried soon."""
        pod = self._current()
        gates = [g["conditionType"] for g in (pod.get("spec") or {}).get("readinessGates") or []]
        view = self._view()
        desired = _normalized(pod_status(pod.get("status") or {}, gates, view, time.time()))
        if desired in (_normalized(pod.get("status") or {}), self._last_written):
            return False
        try:
            fresh = self._rest.get(self._path)
            if fresh["metadata"].get("uid") != self.uid:
                self._vanished = True
                return False
            fresh["status"] = pod_status(fresh.get("status") or {}, gates, view, time.time())
            self._rest.replace(f"{self._path}/status", fresh)
            self._last_written = _normalized(fresh["status"])
        except ApiError as error:
            if error.status == 404:
                self._vanished = True
                return False
            if error.status != 409:
                log.warning("pod %s: status update failed: %s", self.key, error)
            return True
        except OSError as error:
            log.warning("pod %s: status update failed: %s", self.key, error)
            return True
        return False

    def _delete_object(self) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        }
        try:
            self._rest.delete(self._path, body)
        except ApiError as error:
            if error.status != 409:  # 409: a newer pod of the same name; ours is gone
                log.warning("pod %s: final delete failed: %s", self.key, error)

    # ------------------------------------------------------------------ container start

    def _prepare(self, spec: JsonObject) -> Launch:
        pod = self._current()
        context = PodContext(pod, self._node.node_name, self.pod_ip, self._node.host_ip, self._node.allocatable)
        try:
            own_env = container_env(context, spec, self._sources)
        except (ContainerConfigError, ApiError) as error:
            raise NotStartableError("CreateContainerConfigError", str(error), 2.0) from error
        argv = container_argv(spec, own_env)
        endpoints: dict[tuple[str, str], ReadyEndpoint | NotReady | None] = {}
        waiting: set[str] = set()

        def lookup(namespace: str, service: str) -> ReadyEndpoint | NotReady | None:
            if (namespace, service) not in endpoints:
                endpoints[namespace, service] = service_lookup(self._rest, namespace, service)
            return endpoints[namespace, service]

        def rewrite(text: str) -> str:
            resolved = resolve_services(text, self.namespace, lookup)
            waiting.update(resolved.waiting_for)
            return bind_to_pod_address(resolved.text, self.pod_ip)

        try:
            env = {name: rewrite(value) for name, value in own_env.items()}
            argv = [rewrite(part) for part in argv]
        except (ApiError, OSError) as error:
            raise NotStartableError("ServiceLookupError", str(error), 1.0) from error
        if waiting:
            names = ", ".join(sorted(waiting))
            raise NotStartableError("ServiceNotReady", f"no ready endpoint yet for Service {names}", 1.0)
        base = {
            "PATH": self._node.base_path,
            "HOME": str(self.pod_dir / "home"),
            "TMPDIR": str(self.pod_dir / "tmp"),
            "HOSTNAME": self.name,
            "LANG": "C.UTF-8",
        }
        kubeconfig = self._service_account_kubeconfig(pod)
        if kubeconfig is not None:
            base["KUBECONFIG"] = str(kubeconfig)
        working_dir = Path(str(spec.get("workingDir") or self.pod_dir / "home"))
        cwd = working_dir if working_dir.is_dir() else self.pod_dir / "home"
        return Launch(argv, {**base, **env}, cwd)

    def _service_account_kubeconfig(self, pod: JsonObject) -> Path | None:
        """A kubeconfig with a token of the pod's ServiceAccount, bound to the pod (as a projected token is)."""
        spec = pod.get("spec") or {}
        if spec.get("automountServiceAccountToken") is False:
            return None
        if self._kubeconfig is not None:
            return self._kubeconfig
        account = spec.get("serviceAccountName") or "default"
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": SERVICE_ACCOUNT_TOKEN_SECONDS,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid},
            },
        }
        try:
            answer = self._rest.create(f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token", request)
        except ApiError as error:
            raise NotStartableError("CreateContainerConfigError", f"service account token: {error}", 2.0) from error
        config = kubeconfig_for_token(self._rest.server, self._rest.ca_data, answer["status"]["token"], self.namespace)
        path = self.pod_dir / "kubeconfig"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        self._kubeconfig = path
        return path
