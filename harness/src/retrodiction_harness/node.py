"""A node stand-in: scheduler and kubelet for a local control plane, running pods as local processes.

    with NodeStandIn(kubeconfig, workdir) as node:
        ...                       # pods of Deployments, DaskClusters... run and become Ready
        node.pod_ip("ns", "pod")  # 127.0.0.N
        node.pids("ns", "pod")    # {"container": pid}

What it does, and where it differs from a kubelet:
- Registers Node `standin-0` (Ready, InternalIP 127.0.0.1, the machine's cpu/memory as capacity) and renews its
  Lease in kube-node-lease every 10 s and its Ready heartbeat every 60 s.
- Schedules: binds every pending pod of the default scheduler (there is no kube-scheduler) whose nodeSelector
  matches the node's labels. Resource requests are not checked.
- Runs each container's `command` + `args` as a local process group (no image: a container without `command`
  fails with reason StartError; PATH starts with this virtualenv's bin dir, so `python` and `dask` resolve),
  with env, envFrom, the downward API, `$(VAR)` expansion, a fresh HOME/TMPDIR per pod and, unless
  automountServiceAccountToken is false, KUBECONFIG pointing at a kubeconfig with a token of the pod's
  ServiceAccount (TokenRequest, bound to the pod). Service-link variables (`<SVC>_SERVICE_HOST`, ClusterIPs) are
  not set, and nothing may dial a ClusterIP.
- Gives each pod its own address 127.0.<k>.N (k = 0 for the first stand-in on the machine) and rewrites the
  literal 0.0.0.0 in args and env to it (one network namespace: two pods binding 0.0.0.0:8786 would collide),
  and Service names to the address of a ready endpoint (node_names). The API server refuses loopback addresses
  in EndpointSlices, so those stay empty: ready endpoints are computed from the Service's pods (node_endpoints;
  `service_endpoint()` for tests). Logs: <workdir>/pods/<ns>_<pod>_<uid>/logs/<container>/<restart>.log
  (`kubectl logs` does not work: the API server cannot reach this "kubelet").
- Probes (httpGet, tcpSocket, exec; not grpc), restart policies with back-off, graceful deletion; no volumes,
  preStop hooks, resource limits or sidecar containers.
- stop() kills every process it started, deletes the objects of the pods it ran (a controller may recreate
  them; they then stay Pending), its Lease and its Node.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrodiction_harness.node_api import ApiError, JsonObject, KubeRest, WatchStream
from retrodiction_harness.node_ips import PodAddressPool, SubnetClaim
from retrodiction_harness.node_pod import NodeContext, PodWorker, pod_key
from retrodiction_harness.node_status import TERMINAL_PHASES, rfc3339

log = logging.getLogger(__name__)

NODE_IP = "127.0.0.1"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
LEASE_RENEW_SECONDS = 10.0
STATUS_HEARTBEAT_SECONDS = 60.0
# Every watch is restarted from a fresh list this often: a missed event (or a failed binding) is retried then.
RESYNC_SECONDS = 30
DEFAULT_SCHEDULERS = (None, "", "default-scheduler")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _micro_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _memory_kib() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 4 * 1024 * 1024


def schedulable(pod: JsonObject, node_labels: Mapping[str, str]) -> bool:
    """Whether the stand-in's scheduler should bind `pod` to its node."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
        return False
    if spec.get("schedulerName") not in DEFAULT_SCHEDULERS:
        return False
    if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return False
    return all(node_labels.get(key) == value for key, value in (spec.get("nodeSelector") or {}).items())


class NodeStandIn:
    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *,
        name: str = "standin-0",
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
    ) -> None:
        self.name = name
        self.workdir = workdir
        self.rest = KubeRest.from_kubeconfig(kubeconfig)
        if not self.rest.server_is_loopback:
            self.rest.close()
            raise ValueError(f"the node stand-in only works with a local API server, not {self.rest.server}")
        self.labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()),
            "retrodiction.test/node-standin": "true",
        }
        memory = f"{_memory_kib()}Ki"
        self.capacity = {
            "cpu": str(os.cpu_count() or 1),
            "memory": memory,
            "pods": "110",
            "ephemeral-storage": f"{shutil.disk_usage(workdir if workdir.exists() else '/').total // 1024}Ki",
        }
        self._backoff = (backoff_base, backoff_cap)
        self._claim: SubnetClaim | None = None
        self._pool: PodAddressPool | None = None
        self._context: NodeContext | None = None
        self._workers: dict[str, PodWorker] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._streams: set[WatchStream] = set()
        self._threads: list[threading.Thread] = []
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> NodeStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> NodeStandIn:
        if self._started:
            raise RuntimeError("a NodeStandIn can be started only once")
        self._started = True
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._claim = SubnetClaim()
            self._pool = PodAddressPool(self._claim.prefix)
            self._context = NodeContext(
                rest=self.rest,
                node_name=self.name,
                host_ip=NODE_IP,
                allocatable=self.capacity,
                base_path=f"{Path(sys.prefix) / 'bin'}:{SYSTEM_PATH}",
                backoff_base=self._backoff[0],
                backoff_cap=self._backoff[1],
            )
            self._register()
            for target, thread_name in (
                (self._heartbeat, "heartbeat"),
                (self._schedule, "scheduler"),
                (self._kubelet, "kubelet"),
            ):
                thread = threading.Thread(target=target, name=f"{self.name}-{thread_name}", daemon=True)
                self._threads.append(thread)
                thread.start()
        except BaseException:
            self.stop()
            raise
        log.info("node stand-in %s up; pod addresses %s.2-254", self.name, self._claim.prefix)
        return self

    def stop(self) -> None:
        """Stop everything this stand-in started; safe to call more than once."""
        self._stopping.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.close()
        for thread in self._threads:
            thread.join(timeout=RESYNC_SECONDS + 10)
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.join()
        for worker in workers:
            self._force_delete(worker.namespace, worker.name, worker.uid)
        if self._started:
            lease = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.name}"
            self._quietly(lambda: self.rest.delete(lease))
            self._quietly(lambda: self.rest.delete(f"/api/v1/nodes/{self.name}"))
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        self.rest.close()

    def _quietly(self, action: Callable[[], object]) -> None:
        try:
            action()
        except (ApiError, OSError) as error:
            log.warning("node stand-in %s: cleanup step failed: %s", self.name, error)

    # ------------------------------------------------------------------ introspection (tests, `up`)

    def _worker(self, namespace: str, pod: str) -> PodWorker | None:
        with self._lock:
            matches = [w for w in self._workers.values() if w.key == f"{namespace}/{pod}"]
        return matches[-1] if matches else None

    def pod_ip(self, namespace: str, pod: str) -> str | None:
        worker = self._worker(namespace, pod)
        return worker.pod_ip if worker is not None else None

    def pids(self, namespace: str, pod: str) -> dict[str, int]:
        """PIDs (process group leaders) of the pod's running containers, by container name."""
        worker = self._worker(namespace, pod)
        return worker.pids() if worker is not None else {}

    def log_path(self, namespace: str, pod: str, container: str) -> Path:
        worker = self._worker(namespace, pod)
        if worker is None:
            raise KeyError(f"no pod {namespace}/{pod} on node {self.name}")
        return worker.log_path(container)

    @property
    def address_prefix(self) -> str:
        """Pods get <address_prefix>.2, .3, ...: 127.0.0 unless another stand-in on this machine holds it."""
        if self._claim is None:
            raise RuntimeError("the stand-in is not running")
        return self._claim.prefix

    @property
    def pod_keys(self) -> list[str]:
        with self._lock:
            return sorted(w.key for w in self._workers.values())

    # ------------------------------------------------------------------ the Node and its Lease

    def _node_status(self, now: float) -> JsonObject:
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "node stand-in is posting ready status",
            "lastHeartbeatTime": rfc3339(now),
            "lastTransitionTime": rfc3339(self._ready_since),
        }
        pressure = [
            {
                "type": kind,
                "status": "False",
                "reason": f"KubeletHasNo{kind}" if kind != "PIDPressure" else "KubeletHasSufficientPID",
                "message": "node stand-in does not measure this",
                "lastHeartbeatTime": rfc3339(now),
                "lastTransitionTime": rfc3339(self._ready_since),
            }
            for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
        ]
        return {
            "capacity": self.capacity,
            "allocatable": self.capacity,
            "conditions": [*pressure, ready],
            "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": self.name}],
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": platform.release(),
                "osImage": "retrodiction node stand-in (local processes)",
                "containerRuntimeVersion": "standin://0",
                "kubeletVersion": self._version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": self.labels["kubernetes.io/arch"],
            },
        }

    def _register(self) -> None:
        now = time.time()
        self._ready_since = now
        self._version = str(self.rest.get("/version").get("gitVersion", "unknown"))
        node: JsonObject = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": {},
        }
        try:
            created = self.rest.create("/api/v1/nodes", node)
        except ApiError as error:
            if error.status != 409:
                raise
            # Left over by a stand-in that was killed: take it over.
            created = self.rest.merge_patch(f"/api/v1/nodes/{self.name}", {"metadata": {"labels": self.labels}})
        self.rest.merge_patch(f"/api/v1/nodes/{self.name}/status", {"status": self._node_status(now)})
        lease: JsonObject = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": LEASE_NAMESPACE,
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": created["metadata"]["uid"]}
                ],
            },
            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": _micro_time(now)},
        }
        leases = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
        try:
            self.rest.create(leases, lease)
        except ApiError as error:
            if error.status != 409:
                raise
            self.rest.merge_patch(
                f"{leases}/{self.name}",
                {"metadata": {"ownerReferences": lease["metadata"]["ownerReferences"]}, "spec": lease["spec"]},
            )

    def _heartbeat(self) -> None:
        lease = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.name}"
        last_status = time.monotonic()
        while not self._stopping.wait(LEASE_RENEW_SECONDS):
            try:
                self.rest.merge_patch(lease, {"spec": {"renewTime": _micro_time(time.time())}})
                if time.monotonic() - last_status >= STATUS_HEARTBEAT_SECONDS:
                    self.rest.merge_patch(
                        f"/api/v1/nodes/{self.name}/status", {"status": self._node_status(time.time())}
                    )
                    last_status = time.monotonic()
            except (ApiError, OSError) as error:
                if not self._stopping.is_set():
                    log.warning("node stand-in %s: heartbeat failed: %s", self.name, error)

    # ------------------------------------------------------------------ watches

    def _watch_pods(
        self,
        field_selector: str,
        on_list: Callable[[list[JsonObject]], None],
        on_event: Callable[[str, JsonObject], None],
    ) -> None:
        """List, then watch until the server ends the watch (RESYNC_SECONDS) or it fails; repeat until stopped."""
        params = {"fieldSelector": field_selector}
        while not self._stopping.is_set():
            try:
                listing = self.rest.get("/api/v1/pods", params)
                on_list(listing.get("items") or [])
                version = listing["metadata"]["resourceVersion"]
                stream = self.rest.watch("/api/v1/pods", {**params, "resourceVersion": version}, RESYNC_SECONDS)
                with self._lock:
                    if self._stopping.is_set():
                        stream.close()
                        return
                    self._streams.add(stream)
                try:
                    for event in stream:
                        kind, obj = event.get("type", ""), event.get("object") or {}
                        if kind == "ERROR":
                            # 410 Gone (or any error): the next round lists afresh.
                            log.info("pod watch %s ended: %s", field_selector, obj.get("message"))
                            break
                        if kind in ("ADDED", "MODIFIED", "DELETED"):
                            on_event(kind, obj)
                finally:
                    with self._lock:
                        self._streams.discard(stream)
                    stream.close()
            except Exception as error:
                if self._stopping.is_set():
                    return
                log.warning("pod watch %s failed, retrying: %s", field_selector, error)
                self._stopping.wait(1.0)

    def _schedule(self) -> None:
        def bind_all(pods: list[JsonObject]) -> None:
            for pod in pods:
                self._bind(pod)

        def event(kind: str, pod: JsonObject) -> None:
            if kind != "DELETED":
                self._bind(pod)

        self._watch_pods("spec.nodeName=", bind_all, event)

    def _bind(self, pod: JsonObject) -> None:
        if self._stopping.is_set() or not schedulable(pod, self.labels):
            return
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.name},
        }
        try:
            self.rest.create(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", binding)
        except ApiError as error:
            if error.status not in (404, 409):
                log.warning("binding %s failed (retried at the next resync): %s", pod_key(pod), error)

    def _kubelet(self) -> None:
        def sync(pods: list[JsonObject]) -> None:
            present = {pod["metadata"]["uid"] for pod in pods}
            with self._lock:
                gone = [w for uid, w in self._workers.items() if uid not in present]
            for worker in gone:
                worker.vanish()
            for pod in pods:
                self._pod_seen(pod)

        def event(kind: str, pod: JsonObject) -> None:
            if kind == "DELETED":
                with self._lock:
                    worker = self._workers.get(pod["metadata"]["uid"])
                if worker is not None:
                    worker.vanish()
            else:
                self._pod_seen(pod)

        self._watch_pods(f"spec.nodeName={self.name}", sync, event)

    def _pod_seen(self, pod: JsonObject) -> None:
        meta: dict[str, Any] = pod["metadata"]
        finished = (pod.get("status") or {}).get("phase") in TERMINAL_PHASES
        with self._lock:
            known = meta["uid"] in self._workers
        if not known and (finished or meta.get("deletionTimestamp")):
            # Nothing to run (finished under an earlier stand-in, or deleted before it started, or a late event
            # about a pod already stopped): only a pending deletion to complete.
            if meta.get("deletionTimestamp"):
                self._force_delete(meta["namespace"], meta["name"], meta["uid"])
            return
        with self._lock:
            worker = self._workers.get(meta["uid"])
            if worker is not None:
                worker.update(pod)
                return
            if self._stopping.is_set():
                return
            assert self._pool is not None and self._context is not None
            address = self._pool.allocate()
            pod_dir = self.workdir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
            worker = PodWorker(pod, address, pod_dir, self._context, on_exit=self._worker_exited)
            self._workers[meta["uid"]] = worker
        log.info("pod %s: starting on %s with address %s", worker.key, self.name, address)
        worker.start()

    def _worker_exited(self, worker: PodWorker) -> None:
        with self._lock:
            if self._workers.get(worker.uid) is worker and not self._stopping.is_set():
                del self._workers[worker.uid]
        if self._pool is not None:
            self._pool.release(worker.pod_ip)
        log.info("pod %s: stopped; address %s released", worker.key, worker.pod_ip)

    def _force_delete(self, namespace: str, name: str, uid: str) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            self.rest.delete(f"/api/v1/namespaces/{namespace}/pods/{name}", body)
        except (ApiError, OSError) as error:
            if not (isinstance(error, ApiError) and error.status == 409):
                log.warning("deleting pod %s/%s failed: %s", namespace, name, error)
