"""The operator process: its settings, its API client, Kopf's configuration and the way to start it."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

import kopf
from prometheus_client import start_http_server

from retrodiction.controller.clock import Clock, clock_for
from retrodiction.controller.kube import KubernetesApi
from retrodiction.controller.kube_api import KubeApi
from retrodiction.controller.settings import OperatorSettings
from retrodiction.identity import KOPF_PREFIX
from retrodiction.kube_client import api_client

# Kopf's own bookkeeping goes into annotations under our group, so status holds only what the CRD describes.
# Threads for Kopf's sync handlers (the TTL and schedule timers, each a few API calls); the runs' daemons are
# async and hold none.
SYNC_HANDLER_THREADS = 64


@dataclass
class OperatorApp:
    settings: OperatorSettings
    api: KubeApi
    clock: Clock

    @classmethod
    def from_settings(cls, settings: OperatorSettings | None) -> OperatorApp:
        """The app for `settings` (what `retrodiction operator` parsed, with its --namespace flags), or for the
        environment alone when started by `kopf run -m retrodiction.controller.handlers`."""
        settings = settings or OperatorSettings()
        return cls(settings=settings, api=KubernetesApi(api_client()), clock=clock_for(settings.clock_file))

    # One Event per unfinished run (by uid): its daemon sleeps on it between passes, and an event of the run's
    # driver Job sets it, so the operator follows a finished driver at once rather than at its next pass.
    wakers: dict[str, asyncio.Event] = field(default_factory=dict)

    def waker(self, run_uid: str) -> asyncio.Event:
        return self.wakers.setdefault(run_uid, asyncio.Event())

    def wake(self, run_uid: str | None) -> None:
        waker = self.wakers.get(run_uid or "")
        if waker is not None:
            waker.set()

    def forget(self, run_uid: str) -> None:
        self.wakers.pop(run_uid, None)

    def serve_metrics(self) -> None:
        if self.settings.metrics_port:
            start_http_server(self.settings.metrics_port, addr=self.settings.bind_address)

    def ensure_peering(self) -> None:
        """Kopf expects the peering object to exist; a Helm chart cannot create it beside the CRD it installs."""
        if self.settings.peering is None:
            return
        namespaces: list[str | None] = list(self.settings.namespaces) or [None]
        for namespace in namespaces:
            self.api.ensure_peering(self.settings.peering, namespace)

    def describe(self) -> str:
        where = ", ".join(self.settings.namespaces) or "all namespaces"
        return f"watching {where}; worker image {self.settings.worker_image}"


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX)
    kopf_settings.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    kopf_settings.execution.max_workers = SYNC_HANDLER_THREADS
    # The operator records its own Events with stable reasons; Kopf's per-handler log events would be noise.
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.watching.server_timeout = 300
    # A timer that deletes its own object (the TTL, a schedule's history) is still running when the deletion
    # arrives; Kopf then re-checks whether it has exited only this often before releasing the finalizer. Its
    # default of 60 s kept runs Terminating for a minute after their TTL.
    kopf_settings.background.cancellation_polling = 1.0
    kopf_settings.peering.priority = peering_priority(settings)
    kopf_settings.peering.lifetime = settings.peering_lifetime_seconds


def peering_priority(settings: OperatorSettings) -> int:
    if settings.peering_priority is not None:
        return settings.peering_priority
    # Not for security: only to make two replicas' priorities differ.
    return random.randint(1, 2**31 - 1)


def run(settings: OperatorSettings) -> None:
    """Run the operator until interrupted (what `retrodiction operator` does)."""
    import retrodiction.controller.handlers  # noqa: F401  (registers the handlers with Kopf)

    kopf.run(
        # The handlers build the app from these very settings: namespaces may come from flags, not the environment.
        memo=kopf.Memo(operator_settings=settings),
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=settings.peering is None,
        peering_name=settings.peering,
        liveness_endpoint=f"http://{settings.bind_address}:{settings.health_port}/healthz"
        if settings.health_port
        else None,
    )
