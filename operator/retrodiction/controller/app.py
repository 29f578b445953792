"""The operator process: its settings, its API client, Kopf's configuration and the way to start it."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import kopf
from kubernetes import client, config
from prometheus_client import start_http_server

from retrodiction.controller.clock import Clock, clock_for
from retrodiction.controller.kube import KubeApi
from retrodiction.controller.settings import OperatorSettings

# Kopf's own bookkeeping goes into annotations under our group, so status holds only what the CRD describes.
ANNOTATION_PREFIX = "training.retrodiction.dev"
# Each running training holds one thread (its daemon) for its whole duration.
MAX_CONCURRENT_RUNS = 64


def api_client() -> client.ApiClient:
    """In a pod, the ServiceAccount; elsewhere KUBECONFIG (or ~/.kube/config)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


@dataclass
class OperatorApp:
    settings: OperatorSettings
    api: KubeApi
    clock: Clock

    @classmethod
    def from_environment(cls) -> OperatorApp:
        settings = OperatorSettings()
        return cls(settings=settings, api=KubeApi(api_client()), clock=clock_for(settings.clock_file))

    def serve_metrics(self) -> None:
        if self.settings.metrics_port:
            start_http_server(self.settings.metrics_port, addr=self.settings.bind_address)

    def describe(self) -> str:
        where = ", ".join(self.settings.namespaces) or "all namespaces"
        return f"watching {where}; worker image {self.settings.worker_image}"


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=ANNOTATION_PREFIX)
    kopf_settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/finalizer"
    kopf_settings.execution.max_workers = MAX_CONCURRENT_RUNS
    # The operator records its own Events with stable reasons; Kopf's per-handler log events would be noise.
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.watching.server_timeout = 300
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
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=settings.peering is None,
        peering_name=settings.peering,
        liveness_endpoint=f"http://{settings.bind_address}:{settings.health_port}/healthz"
        if settings.health_port
        else None,
    )
