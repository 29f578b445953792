"""Prometheus metrics of the operator (served on settings.metrics_port): run-level only.

Batch-level metrics (batches by result, batch duration) come from each run's driver, which serves them itself
(driver/metrics.py): the operator never sees a batch.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS_IN_PHASE = Gauge(
    "retrodiction_runs", "Runs this operator is driving, by phase (finished runs are not driven).", ["phase"]
)
RUNS_FINISHED = Counter("retrodiction_runs_finished_total", "Runs that finished, by result.", ["result"])
PROVISIONING_SECONDS = Histogram(
    "retrodiction_cluster_provisioning_seconds",
    "From a run's driver Job being created to its driver reporting that batches run.",
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
)
STATUS_PATCHES = Counter("retrodiction_status_patches_total", "Status patches written, by kind.", ["kind"])
DRIVER_REPORTS_REFUSED = Counter(
    "retrodiction_driver_reports_refused_total",
    "Driver reports the operator ignored (too large, invalid, not the run's), by why.",
    ["why"],
)
