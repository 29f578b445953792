"""Prometheus metrics of the operator (served on settings.metrics_port): run-level only.

Batch-level metrics (batches by result, batch duration) come from each run's driver, which serves them itself
(driver/metrics.py): the operator never sees a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from prometheus_client import Counter, Gauge, Histogram

from retrodiction.api.report import ReportedTrust

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

# The latest successful run of each schedule: trust per model and horizon, averaged over the variables scored
# (the aggregate of `retrodiction diff`). Labels come from the run's spec (at most 21 models x 64 horizons a
# schedule), never from what the driver reported: a model or horizon the spec does not name is dropped.
SCHEDULE_TRUST = Gauge(
    "retrodiction_schedule_trust",
    "Trust (posterior mean, averaged over variables) per model and horizon in a schedule's latest successful run.",
    ["namespace", "schedule", "model", "horizon"],
)
SCHEDULE_TRUST_LOWER = Gauge(
    "retrodiction_schedule_trust_lower",
    "The lower end of the 95% credible interval of that trust, averaged over variables.",
    ["namespace", "schedule", "model", "horizon"],
)
_SCHEDULE_SERIES: dict[tuple[str, str], set[tuple[str, str]]] = {}


def set_schedule_trust(
    namespace: str, schedule: str, trust: ReportedTrust, models: Sequence[str], horizons: Sequence[int]
) -> None:
    """Replace the schedule's trust series with those of its latest successful run."""
    forget_schedule(namespace, schedule)
    series: set[tuple[str, str]] = set()
    for gauge, by_model in ((SCHEDULE_TRUST, trust.mean), (SCHEDULE_TRUST_LOWER, trust.lower)):
        for model in models:
            # zip without strict: a list shorter than the spec's horizons leaves the rest unset.
            for horizon, value in zip(horizons, by_model.get(model) or [], strict=False):
                if value is not None:
                    gauge.labels(namespace, schedule, model, str(horizon)).set(value)
                    series.add((model, str(horizon)))
    _SCHEDULE_SERIES[(namespace, schedule)] = series


def forget_schedule(namespace: str, schedule: str) -> None:
    """Drop a schedule's trust series (replaced by a newer run, or the schedule deleted)."""
    for model, horizon in _SCHEDULE_SERIES.pop((namespace, schedule), set()):
        for gauge in (SCHEDULE_TRUST, SCHEDULE_TRUST_LOWER):
            with suppress(KeyError):  # a series only one of the gauges had
                gauge.remove(namespace, schedule, model, horizon)
