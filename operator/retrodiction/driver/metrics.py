"""Batch-level metrics of one run, served by its driver (the operator keeps run-level metrics only: it never sees
a batch). Scrape the driver pods (port 9090, path /metrics) with a PodMonitor to collect them."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

from retrodiction.driver.settings import DriverSettings

BATCHES = Counter("retrodiction_batches", "Batches finished by this driver, by result.", ["result"])
BATCH_SECONDS = Histogram(
    "retrodiction_batch_duration_seconds",
    "Time a worker spent on one successful batch.",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
)


def serve(settings: DriverSettings) -> None:
    if settings.driver_metrics_port:
        start_http_server(settings.driver_metrics_port, addr=settings.bind_address)
