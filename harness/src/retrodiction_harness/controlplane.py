"""A real Kubernetes control plane run as local processes: etcd, kube-apiserver and kube-controller-manager.

Everything listens on free 127.0.0.1 ports; the API server authenticates with client certificates from a CA made
for this instance and authorizes with Node + RBAC; service-account tokens are signed with a key made here too.

    with ControlPlane(bin_dir) as cp:
        api = cp.api_client()          # admin (system:masters)
        ...

It works outside pytest. Logs go to <workdir>/logs/*.log. A workdir the instance created itself is removed on
stop() unless `keep_workdir` (or RETRODICTION_KEEP_CLUSTER=1) says to keep it.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import logging
import os
import shutil
import ssl
import tempfile
import time
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client

from retrodiction_harness.certs import CertAndKey, CertificateAuthority, generate_signing_key
from retrodiction_harness.kubeconfig import build_kubeconfig, load_configuration, write_kubeconfig, write_private
from retrodiction_harness.ports import free_ports
from retrodiction_harness.processes import ManagedProcess

log = logging.getLogger(__name__)

KEEP_ENV = "RETRODICTION_KEEP_CLUSTER"

# A loopback range: should anything ever dial a ClusterIP, the packet stays on this machine.
SERVICE_CIDR = "127.96.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CLUSTER_NAME = "retrodiction-local"

# What the e2e tests need, nothing more: garbage collection, deployments down to pods, namespaces deletion,
# service accounts and their tokens, endpoints for Services. root-ca-certificate-publisher makes the
# kube-root-ca.crt ConfigMap that every pod's projected service-account volume refers to.
CONTROLLERS = (
    "garbage-collector-controller",
    "deployment-controller",
    "replicaset-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "endpointslice-controller",
    "endpoints-controller",
    "root-ca-certificate-publisher-controller",
    # Each run's driver is a Job.
    "job-controller",
)
# A real node (kubelet) also needs its taints kept in step with its conditions, and its dead pods collected.
NODE_CONTROLLERS = (*CONTROLLERS, "node-lifecycle-controller", "pod-garbage-collector-controller")

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_PORT_ATTEMPTS = 3


class ControlPlaneError(RuntimeError):
    """The control plane failed to start; the message carries the tail of the failing process's log."""


class _PortTakenError(ControlPlaneError):
    """Another process grabbed a port between our probe and the component's bind."""


AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, Panic]
rules:
  - level: None
    userGroups: ["system:serviceaccounts:kube-system"]
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"""


def _child_env() -> dict[str, str]:
    # Components must talk to each other directly on 127.0.0.1, never through a proxy from the environment.
    return {key: value for key, value in os.environ.items() if key.lower() not in _PROXY_VARIABLES}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class _Runtime:
    """What must be cleaned up; kept apart from ControlPlane so the exit-time finalizer holds no reference to it."""

    def __init__(self, workdir: Path, remove_workdir: bool) -> None:
        self.workdir = workdir
        self.remove_workdir = remove_workdir
        self.processes: list[ManagedProcess] = []

    def stop_processes(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def shutdown(self) -> None:
        self.stop_processes()
        if self.remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir.exists():
            log.info("control plane workdir kept: %s", self.workdir)


@dataclass(frozen=True)
class Layout:
    """Where the control plane listens and which controllers it runs. The real node's pods reach the API server at
    the node's bridge address (the `kubernetes` Service's endpoint); the node stand-in's at 127.0.0.1."""

    bind_address: str = "127.0.0.1"
    service_cidr: str = SERVICE_CIDR
    controllers: tuple[str, ...] = CONTROLLERS


STAND_IN_LAYOUT = Layout()


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1; a context manager (start once, stop anytime)."""

    def __init__(
        self,
        bin_dir: Path,
        workdir: Path | None = None,
        *,
        keep_workdir: bool | None = None,
        start_timeout: float = 60.0,
        layout: Layout = STAND_IN_LAYOUT,
    ) -> None:
        self.controllers = layout.controllers
        self.bin_dir = bin_dir
        self.bind_address = layout.bind_address
        created = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="retrodiction-cp-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        keep = _env_flag(KEEP_ENV) if keep_workdir is None else keep_workdir
        self.start_timeout = start_timeout
        pki = self.workdir / "pki"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.ca_file = pki / "ca.crt"
        self.service_account_key = pki / "sa.key"
        self.service_account_public_key = pki / "sa.pub"
        self.logs_dir = self.workdir / "logs"
        self.audit_log = self.logs_dir / "audit.jsonl"
        self.server = ""
        self.service_cidr = layout.service_cidr
        self.kubernetes_service_ip = str(next(ipaddress.ip_network(layout.service_cidr).hosts()))
        self.startup_seconds: float | None = None
        self._ca: CertificateAuthority | None = None
        self._admin: CertAndKey | None = None
        self._kcm: CertAndKey | None = None
        self._started = False
        self._runtime = _Runtime(self.workdir, remove_workdir=created and not keep)
        # Runs on stop(), on garbage collection, or at interpreter exit, whichever comes first, and only once.
        self._finalizer = weakref.finalize(self, self._runtime.shutdown)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("a ControlPlane can be started only once")
        self._started = True
        began = time.monotonic()
        try:
            self._write_pki()
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                try:
                    self._start_processes(deadline=time.monotonic() + self.start_timeout)
                    break
                except _PortTakenError:
                    self._runtime.stop_processes()
                    self._runtime.processes.clear()
                    if attempt == _PORT_ATTEMPTS:
                        raise
                    log.warning("a port was taken while starting; retrying with new ports")
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        log.info("control plane at %s ready in %.1f s (workdir %s)", self.server, self.startup_seconds, self.workdir)

    def stop(self) -> None:
        """Stop the processes in reverse order (SIGTERM, then SIGKILL after a grace period) and clean up."""
        self._finalizer()

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._runtime.processes if process.pid is not None]

    @property
    def processes(self) -> Sequence[ManagedProcess]:
        return tuple(self._runtime.processes)

    # ------------------------------------------------------------------ clients

    def api_client(self) -> client.ApiClient:
        """A new admin ApiClient for this control plane (close it when done)."""
        configuration = load_configuration(self.kubeconfig)
        configuration.proxy = None  # never through an environment proxy: the server is on 127.0.0.1
        return client.ApiClient(configuration)

    def write_kubeconfig(self, path: Path, user: str, groups: Sequence[str] = ()) -> Path:
        """Write a kubeconfig for another identity (client certificate CN=user, O=groups), e.g. system:node:<name>."""
        if self._ca is None:
            raise RuntimeError("the control plane has not been started")
        credentials = self._ca.issue_client(user, groups)
        config_dict = build_kubeconfig(self.server, self._ca.cert_pem, credentials, cluster=CLUSTER_NAME, user=user)
        return write_kubeconfig(path, config_dict)

    # ------------------------------------------------------------------ startup

    def _write_pki(self) -> None:
        pki = self.ca_file.parent
        pki.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority.generate()
        self._ca = ca
        self.ca_file.write_bytes(ca.cert_pem)
        serving = ca.issue_server(
            "kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=sorted({"127.0.0.1", self.bind_address, self.kubernetes_service_ip}),
        )
        (pki / "apiserver.crt").write_bytes(serving.cert_pem)
        write_private(pki / "apiserver.key", serving.key_pem)
        admin = ca.issue_client("retrodiction-admin", ["system:masters"])
        (pki / "admin.crt").write_bytes(admin.cert_pem)
        write_private(pki / "admin.key", admin.key_pem)
        self._admin = admin
        self._kcm = ca.issue_client("system:kube-controller-manager")
        # What the API server shows a kubelet (logs, exec, port-forward), bound to system:kubelet-api-admin.
        kubelet_client = ca.issue_client("kube-apiserver-kubelet-client")
        (pki / "kubelet-client.crt").write_bytes(kubelet_client.cert_pem)
        write_private(pki / "kubelet-client.key", kubelet_client.key_pem)
        signing = generate_signing_key()
        write_private(self.service_account_key, signing.private_pem)
        self.service_account_public_key.write_bytes(signing.public_pem)

    def _start_processes(self, deadline: float) -> None:
        assert self._ca is not None and self._admin is not None and self._kcm is not None
        etcd_client, etcd_peer, apiserver_port, kcm_port = free_ports(4)
        self.server = f"https://{self.bind_address}:{apiserver_port}"
        write_kubeconfig(
            self.kubeconfig,
            build_kubeconfig(self.server, self._ca.cert_pem, self._admin, cluster=CLUSTER_NAME, user="admin"),
        )
        kcm_kubeconfig = write_kubeconfig(
            self.workdir / "kube-controller-manager.kubeconfig",
            build_kubeconfig(
                self.server, self._ca.cert_pem, self._kcm, cluster=CLUSTER_NAME, user="system:kube-controller-manager"
            ),
        )
        # A retry must not reuse data that names the previous peer URL.
        etcd_data = self.workdir / "etcd"
        shutil.rmtree(etcd_data, ignore_errors=True)

        # The API server retries etcd until it answers, so both start at once; the controller manager gives up
        # if the API server is not healthy within seconds, so it waits for /readyz.
        etcd = self._spawn("etcd", self._etcd_args(etcd_data, etcd_client, etcd_peer))
        apiserver = self._spawn("kube-apiserver", self._apiserver_args(etcd_client, apiserver_port))
        admin_tls = ssl.create_default_context(cafile=str(self.ca_file))
        admin_tls.load_cert_chain(self.ca_file.parent / "admin.crt", self.ca_file.parent / "admin.key")
        apiserver_ready = functools.partial(_https_ok, f"{self.server}/readyz", admin_tls)
        self._wait(apiserver, apiserver_ready, deadline, also_watch=[etcd])
        kcm = self._spawn("kube-controller-manager", self._kcm_args(kcm_kubeconfig, kcm_port))
        kcm_tls = _insecure_context()
        kcm_healthy = functools.partial(_https_ok, f"https://127.0.0.1:{kcm_port}/healthz", kcm_tls)
        self._wait(kcm, kcm_healthy, deadline, also_watch=[etcd, apiserver])
        # The default ServiceAccount appears only when the controllers run with working credentials.
        with self.api_client() as api:
            core = client.CoreV1Api(api)
            has_default_sa = functools.partial(_default_service_account_exists, core)
            self._wait(kcm, has_default_sa, deadline, also_watch=[etcd, apiserver])

    def _spawn(self, name: str, args: list[str]) -> ManagedProcess:
        process = ManagedProcess(name, [str(self.bin_dir / name), *args], self.logs_dir / f"{name}.log", _child_env())
        self._runtime.processes.append(process)
        process.start()
        return process

    def _etcd_args(self, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        return [
            "--name=default",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--initial-cluster-state=new",
            # Throwaway data: durability buys nothing and fsync dominates the API server's write latency.
            "--unsafe-no-fsync=true",
        ]

    def _apiserver_args(self, etcd_port: int, port: int) -> list[str]:
        pki = self.ca_file.parent
        return [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--bind-address={self.bind_address}",
            f"--advertise-address={self.bind_address}",
            f"--secure-port={port}",
            f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={self.ca_file}",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--allow-privileged=true",
            # Node lets a node stand-in act with a real kubelet identity (system:node:<name>, limited by
            # NodeRestriction); RBAC for everyone else. OwnerReferencesPermissionEnforcement (on in OpenShift) makes
            # blockOwnerDeletion need `update` on the owner's finalizers, so the chart's RBAC is proved against it.
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={self.service_account_public_key}",
            f"--service-account-signing-key-file={self.service_account_key}",
            "--profiling=false",
            # Every request a ServiceAccount makes (the operator with its chart's RBAC, pods of the node stand-in),
            # so tests can compare what was asked for with what the RBAC rules grant.
            f"--audit-policy-file={self._write_audit_policy()}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
        ]

    def _write_audit_policy(self) -> Path:
        path = self.workdir / "audit-policy.yaml"
        path.write_text(AUDIT_POLICY)
        return path

    def audit_events(self, username: str | Callable[[str], bool]) -> list[dict[str, Any]]:
        """Audit events (level Metadata; watches logged when their response starts) of requests made as `username`
        (or by every user it accepts, when a predicate)."""
        if not self.audit_log.exists():
            return []
        accepts = username if callable(username) else username.__eq__
        events = (json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip())
        return [event for event in events if accepts(event.get("user", {}).get("username", ""))]

    def _kcm_args(self, kubeconfig: Path, port: int) -> list[str]:
        return [
            f"--kubeconfig={kubeconfig}",
            # No --authentication-kubeconfig: it would look up a front-proxy CA this API server does not have and
            # log errors forever; the only request the secure port must answer is the anonymous /healthz probe.
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.workdir / 'kcm-certs'}",
            "--leader-elect=false",
            f"--controllers={','.join(self.controllers)}",
            f"--service-account-private-key-file={self.service_account_key}",
            f"--root-ca-file={self.ca_file}",
            "--use-service-account-credentials=true",
            f"--cluster-name={CLUSTER_NAME}",
            "--profiling=false",
        ]

    # ------------------------------------------------------------------ readiness

    def _wait(
        self,
        process: ManagedProcess,
        ready: Callable[[], bool],
        deadline: float,
        also_watch: Sequence[ManagedProcess] = (),
    ) -> None:
        while True:
            for watched in (process, *also_watch):
                code = watched.exit_code()
                if code is not None:
                    tail = watched.log_tail()
                    error = _PortTakenError if "address already in use" in tail else ControlPlaneError
                    raise error(f"{watched.name} exited with code {code}; log {watched.log_path}:\n{tail}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{process.name} not ready within {self.start_timeout:.0f} s; log {process.log_path}:\n"
                    f"{process.log_tail()}"
                )
            time.sleep(0.1)


def _default_service_account_exists(core: client.CoreV1Api) -> bool:
    try:
        core.read_namespaced_service_account("default", "default", _request_timeout=5)
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _insecure_context() -> ssl.SSLContext:
    # Only for the controller manager's health probe on 127.0.0.1: it serves a self-signed certificate.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_NO_PROXY_HANDLER = urllib.request.ProxyHandler({})


def _https_ok(url: str, context: ssl.SSLContext) -> bool:
    opener = urllib.request.build_opener(_NO_PROXY_HANDLER, urllib.request.HTTPSHandler(context=context))
    with contextlib.suppress(OSError), opener.open(url, timeout=2) as response:
        return bool(response.status == 200)
    return False
