"""The driver's side of the progress report: a small ConfigMap the operator copies into the run's status.

Progress is written at most every `interval` seconds (state changes always), so the API server sees a few writes
a minute whatever the number of batches; the document is a fixed set of scalars (api/report.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from retrodiction.api.children import child_metadata, driver_report_name
from retrodiction.api.history import model_means
from retrodiction.api.report import REPORT_KEY, DriverReport, DriverState, ReportedBatches, ReportedTrust
from retrodiction.api.summary import RetrodictionSummary
from retrodiction.driver.kube import DriverApi
from retrodiction.execution.progress import Progress
from retrodiction.identity import COMPONENT_DRIVER_REPORT, COMPONENT_LABEL

log = logging.getLogger(__name__)


def reported_trust(summary: RetrodictionSummary, models: Sequence[str], horizons: Sequence[int]) -> ReportedTrust:
    """Per model of the run (its order), at each of its horizons: the mean over the variables scored of their trust
    mean and lower bound, to 4 decimals (what gauges show); None where a model scored nothing."""
    means = {(trend.model, trend.horizon): trend for trend in model_means(summary.results)}

    def row(model: str, pick: Callable[[Any], float]) -> list[float | None]:
        return [None if (model, h) not in means else round(pick(means[(model, h)]), 4) for h in horizons]

    return ReportedTrust(
        mean={model: row(model, lambda trend: trend.trust) for model in models},
        lower={model: row(model, lambda trend: trend.lower) for model in models},
    )


class ReportWriter:
    def __init__(
        self,
        api: DriverApi,
        run_meta: Mapping[str, Any],
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.run_meta = run_meta
        self.interval = interval
        self._clock = clock
        self._last: float | None = None
        began = datetime.now(UTC)
        self.report = DriverReport(run_uid=run_meta["uid"], state=DriverState.PLANNING, updated=began, started=began)
        self._written = False

    def state(self, state: DriverState, **fields: Any) -> None:
        """A new state (and whatever goes with it): always written."""
        self._set(state=state, **fields)
        self._write()

    def progress(self, progress: Progress, *, running: int) -> None:
        """Counters from the coordinator's progress callback; written at most every `interval` seconds."""
        eta = progress.estimated_remaining_seconds
        self._set(
            batches=ReportedBatches(
                total=progress.total,
                succeeded=progress.succeeded,
                failed=progress.failed,
                running=max(0, running),
                resumed=progress.resumed,
            ),
            completed_percentage=progress.completed_percentage,
            estimated_remaining_seconds=None if eta is None else max(0, round(eta)),
        )
        finished = progress.completed == progress.total
        now = self._clock()
        if finished or self._last is None or now - self._last >= self.interval:
            self._write()

    def _set(self, **fields: Any) -> None:
        self.report = self.report.model_copy(update={**fields, "updated": datetime.now(UTC)})

    def _write(self) -> None:
        name = driver_report_name(self.run_meta["name"])
        document = self.report.model_dump(mode="json", by_alias=True, exclude_none=True)
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": child_metadata(
                self.run_meta, name, {COMPONENT_LABEL: COMPONENT_DRIVER_REPORT}, block_owner_deletion=False
            ),
            "data": {REPORT_KEY: json.dumps(document, separators=(",", ":"))},
        }
        try:
            if self._written:
                self.api.replace_owned_configmap(manifest, self.run_meta["uid"])
            else:
                self.api.apply_configmap(manifest, self.run_meta["uid"])
                self._written = True
        except ApiException as err:
            # A lost progress write is not a lost run: the next one carries the latest counters.
            log.warning("could not write the progress report: %s", err.reason)
        self._last = self._clock()
