"""Prometheus metrics of the operator (served on settings.metrics_port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS_IN_PHASE = Gauge(
    "retrodiction_runs", "Runs this operator is driving, by phase (finished runs are not driven).", ["phase"]
)
RUNS_FINISHED = Counter("retrodiction_runs_finished_total", "Runs that finished, by result.", ["result"])
BATCHES = Counter("retrodiction_batches_total", "Batches that finished, by result.", ["result"])
BATCH_SECONDS = Histogram(
    "retrodiction_batch_duration_seconds",
    "Time a worker spent on one batch (reading and scoring).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
PROVISIONING_SECONDS = Histogram(
    "retrodiction_cluster_provisioning_seconds",
    "From asking for a Dask cluster to its scheduler answering.",
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
)
STATUS_PATCHES = Counter("retrodiction_status_patches_total", "Status patches written, by kind.", ["kind"])
