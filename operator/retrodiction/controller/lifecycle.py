"""One RetrodictionTraining from Pending to Succeeded or Failed: everything the operator does for a run.

The operator orchestrates and nothing more. It checks the spec against the admin policy, waits for a place in the
namespace's queue, creates the run's children (the driver's ServiceAccount and RBAC; in kubernetes mode the
NetworkPolicy and the DaskCluster; the driver Job), and copies the driver's report, read with a byte cap and
validated, into the status. It never reads the data, never talks to a Dask scheduler, never reads a Secret: the
run's driver, in the run's namespace, does the work.

A pass is a function of the stored status, the spec and the children, so it can be replayed after a crash at any
line, and a restarted operator picks every run up where it was. API calls run in worker threads
(asyncio.to_thread) with timeouts: no run holds a thread while it waits for its driver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, Protocol, TypeVar

from pydantic import ValidationError

from retrodiction.api.children import (
    dask_cluster_name,
    driver_job_name,
    driver_report_name,
    report_configmap_name,
    schedule_of,
)
from retrodiction.api.errors import format_validation_error
from retrodiction.api.outputs import report_uri, summary_places
from retrodiction.api.policy import violations
from retrodiction.api.report import DriverReport, DriverState
from retrodiction.api.status import DaskClusterRef, Phase, RunStatusPatch, SummaryRef
from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.controller import events, metrics
from retrodiction.controller.dask_cluster import build_dask_cluster
from retrodiction.controller.driver import build_driver_access, build_driver_job, build_network_policy
from retrodiction.controller.kube import TooLargeError
from retrodiction.controller.kube_api import RunApi
from retrodiction.controller.report_reader import MAX_REPORT_OBJECT_BYTES, ReportError, parse_report
from retrodiction.controller.settings import OperatorSettings
from retrodiction.controller.status import PhaseChange, StatusThrottle, progress_patch, read_status, transition
from retrodiction.identity import TLS_ANNOTATION, EventReason
from retrodiction.ownership import NotOwnedError
from retrodiction.times import parse_rfc3339

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

# Past the startup timeout the driver fails the run itself (it cannot reach its scheduler); this margin covers a
# driver pod that never starts at all (an image that cannot be pulled, no node that fits).
STARTUP_MARGIN_SECONDS = 120.0
STARTED = frozenset({Phase.PROVISIONING, Phase.RUNNING})
STALE_SLACK = timedelta(seconds=5)


@dataclass
class RunContext:
    api: RunApi
    settings: OperatorSettings
    body: Mapping[str, Any]  # a live view: Kopf keeps it current as the object changes
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class RunFailedError(Exception):
    """A permanent failure of the run: recorded in status with this reason, never retried."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Stopped(Protocol):
    """Kopf's `stopped` flag of an async daemon."""

    def wait(self, timeout: float | None = None) -> Awaitable[Any]: ...


async def pause(stopped: Stopped, waker: asyncio.Event, seconds: float) -> None:
    """Until `seconds` have passed, the daemon is stopped or `waker` is set, whichever comes first."""

    async def until_stopped() -> None:
        await stopped.wait(seconds)

    waits = {asyncio.ensure_future(until_stopped()), asyncio.ensure_future(waker.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def _condition(obj: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


class RunLifecycle:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        meta = ctx.body["metadata"]
        self.meta = {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]}
        self.status = read_status(ctx.body.get("status"))
        self.throttle = StatusThrottle(ctx.settings.status_interval_seconds)
        self._provisioning_since: float | None = None
        # When this operator moved the run to Provisioning: a report written before it is a previous driver's
        # (before a suspend), not news of the new one. Unknown after a restart, when every report counts.
        self._provisioning_at: datetime | None = None
        self._last_progress: Any = None
        # Every child exists (made or adopted by this lifecycle): later passes only observe. Unknown after a restart,
        # so the first pass adopts them again; a driver Job deleted mid-run is made again.
        self._children_ready = False

    async def _call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)

    # -- status ---------------------------------------------------------------------------------------------------

    @property
    def generation(self) -> int | None:
        generation = self.ctx.body["metadata"].get("generation")
        return None if generation is None else int(generation)

    async def _write(self, patch: RunStatusPatch, kind: str) -> None:
        await self._call(self.ctx.api.patch_run_status, self.meta["namespace"], self.meta["name"], patch)
        self.status = patch.applied_to(self.status)
        metrics.STATUS_PATCHES.labels(kind).inc()

    async def set_phase(self, to: Phase, reason: str, message: str, extra: RunStatusPatch | None = None) -> None:
        before = self.status.phase
        if before == to and self.status.reason == reason and self.status.message == message:
            return
        patch = transition(self.status, PhaseChange(to, reason, message, self.generation), self.ctx.now())
        if extra is not None:
            patch = extra.applied_to(patch)
        await self._write(patch, "phase")
        self.throttle.should_write(force=True)
        if before is not None and before != to:
            metrics.RUNS_IN_PHASE.labels(str(before)).dec()
        if before != to:
            metrics.RUNS_IN_PHASE.labels(str(to)).inc()
            if to.finished:
                metrics.RUNS_IN_PHASE.labels(str(to)).dec()
                metrics.RUNS_FINISHED.labels(str(to)).inc()
        event = events.event_for(before, to, reason, message)
        if event is not None:
            kind, event_reason, event_message = event
            self.ctx.api.event(self.ctx.body, kind, event_reason, event_message)

    # -- one pass -------------------------------------------------------------------------------------------------

    async def step(self) -> bool:
        """Move the run on as far as it can go now; True once it is finished (nothing more to do)."""
        phase = self.status.phase
        if phase is not None and phase.finished:
            return True
        try:
            spec = self._spec()
            if spec.execution.suspend:
                await self._suspend(spec)
                return False
            if phase is None:
                await self.set_phase(Phase.PENDING, EventReason.ACCEPTED, "checking the spec and the namespace's queue")
            if self.status.phase not in STARTED and not await self._may_start():
                return False
            if not self._children_ready or self.status.phase not in STARTED:
                await self._ensure_children(spec)
            return await self._observe(spec)
        except RunFailedError as failure:
            await self._finish_failed(failure.reason, failure.message)
            return True

    def _spec(self) -> RetrodictionTrainingSpec:
        try:
            spec = RetrodictionTrainingSpec.model_validate(self.ctx.body["spec"])
        except ValidationError as err:
            raise RunFailedError(EventReason.INVALID_SPEC, format_validation_error(err, "spec")) from None
        problems = violations(spec, self.ctx.settings.policy, default_image=self.ctx.settings.worker_image)
        if problems:
            raise RunFailedError(EventReason.POLICY_VIOLATION, "; ".join(map(str, problems)))
        return spec

    async def _may_start(self) -> bool:
        """A place in the namespace's queue: at most maxConcurrentRunsPerNamespace runs started, oldest first."""
        limit = self.ctx.settings.policy.max_concurrent_runs_per_namespace
        runs = await self._call(self.ctx.api.list_runs, self.meta["namespace"])
        mine = (self.ctx.body["metadata"].get("creationTimestamp") or "", self.meta["name"])
        started = waiting_before = 0
        for run in runs:
            meta = run.get("metadata") or {}
            if meta.get("uid") == self.meta["uid"] or meta.get("deletionTimestamp"):
                continue
            phase = (run.get("status") or {}).get("phase")
            if phase in (Phase.PROVISIONING, Phase.RUNNING):
                started += 1
            elif phase in (None, Phase.PENDING) and (meta.get("creationTimestamp") or "", meta.get("name")) < mine:
                waiting_before += 1
        if started + waiting_before < limit:
            return True
        first_time = self.status.reason != EventReason.QUEUED
        await self.set_phase(
            Phase.PENDING,
            EventReason.QUEUED,
            f"{started} run(s) of namespace {self.meta['namespace']} are running and {waiting_before} wait before "
            f"this one (maxConcurrentRunsPerNamespace={limit})",
        )
        if first_time:
            self.ctx.api.event(self.ctx.body, "Normal", EventReason.QUEUED, str(self.status.message))
        return False

    def _driver_env(self, spec: RetrodictionTrainingSpec) -> dict[str, str]:
        settings = self.ctx.settings
        return {
            "RETRODICTION_RUN_UID": self.meta["uid"],
            "RETRODICTION_POLICY": settings.policy.model_dump_json(by_alias=True),
            "RETRODICTION_STATUS_INTERVAL_SECONDS": str(settings.status_interval_seconds),
            "RETRODICTION_CLUSTER_STARTUP_TIMEOUT_SECONDS": str(settings.cluster_startup_timeout_seconds),
            "RETRODICTION_LOCAL_MAX_WORKERS": str(settings.local_max_workers),
            "RETRODICTION_LOG_LEVEL": "INFO",
        }

    def _deadline_left(self, spec: RetrodictionTrainingSpec) -> int | None:
        seconds = spec.execution.active_deadline_seconds
        if seconds is None:
            return None
        began = self.status.start_time
        if began is None:
            return seconds
        return max(1, int(seconds - (self.ctx.now() - began).total_seconds()))

    async def _ensure_children(self, spec: RetrodictionTrainingSpec) -> None:
        """Create (or adopt) every child of the run; idempotent."""
        api, uid = self.ctx.api, self.meta["uid"]
        image = self.ctx.settings.worker_image
        try:
            job = build_driver_job(
                self.meta, spec, image=image, env=self._driver_env(spec), deadline_seconds=self._deadline_left(spec)
            )
            cluster = build_dask_cluster(self.meta, spec, image=image) if spec.dask.mode == "kubernetes" else None
        except ValueError as err:
            raise RunFailedError(EventReason.INVALID_SPEC, str(err)) from None
        try:
            for manifest in build_driver_access(self.meta, self.ctx.settings.driver_cluster_role):
                await self._call(api.ensure_child, manifest, uid)
            replacing = False
            if cluster is not None:
                await self._call(api.ensure_child, build_network_policy(self.meta), uid)
                replacing = await self._replace_old_cluster()
                if not replacing:
                    await self._call(api.ensure_child, cluster, uid)
            existing = await self._call(api.ensure_child, job, uid)
        except NotOwnedError as err:
            raise RunFailedError(EventReason.CLUSTER_FAILED, str(err)) from None
        if (existing.get("spec") or {}).get("suspend"):
            await self._call(api.suspend_job, self.meta["namespace"], driver_job_name(self.meta["name"]), False)
        self._children_ready = not replacing
        phase = self.status.phase
        if phase not in STARTED:
            self._provisioning_since = time.monotonic()
            self._provisioning_at = self.ctx.now()
            where = f"DaskCluster {dask_cluster_name(self.meta['name'])}, " if cluster is not None else ""
            await self.set_phase(
                Phase.PROVISIONING,
                EventReason.RUN_RESUMED if phase is Phase.SUSPENDED else EventReason.CLUSTER_CREATING,
                f"starting {where}driver Job {driver_job_name(self.meta['name'])} "
                f"({spec.dask.mode} mode, {spec.dask.workers} worker(s))",
            )

    async def _replace_old_cluster(self) -> bool:
        """A DaskCluster made by an earlier version of the operator (no TLS) is deleted, to be made again with the
        run's TLS; its finished batches are in the checkpoints. True while it is still going."""
        namespace, name = self.meta["namespace"], dask_cluster_name(self.meta["name"])
        cluster = await self._call(self.ctx.api.get_dask_cluster, namespace, name)
        if cluster is None:
            return False
        metadata = cluster.get("metadata") or {}
        if (metadata.get("annotations") or {}).get(TLS_ANNOTATION) == "true":
            return False
        if not metadata.get("deletionTimestamp"):
            await self._call(self.ctx.api.delete_dask_cluster, namespace, name)
            self.ctx.api.event(
                self.ctx.body,
                "Normal",
                EventReason.CLUSTER_CREATING,
                f"DaskCluster {name} was made without the run's TLS by an earlier version; it is made again",
            )
        return True

    async def _read_report(self) -> DriverReport | None:
        namespace, name = self.meta["namespace"], driver_report_name(self.meta["name"])
        try:
            blob = await self._call(self.ctx.api.read_configmap_capped, namespace, name, MAX_REPORT_OBJECT_BYTES)
            return None if blob is None else parse_report(blob, self.meta["uid"])
        except TooLargeError:
            why = "too-large"
        except ReportError as err:
            why = "invalid"
            log.warning("run %s/%s: driver report ignored: %s", namespace, self.meta["name"], err)
        metrics.DRIVER_REPORTS_REFUSED.labels(why).inc()
        return None

    async def _observe(self, spec: RetrodictionTrainingSpec) -> bool:
        namespace = self.meta["namespace"]
        job = await self._call(self.ctx.api.get_job, namespace, driver_job_name(self.meta["name"]))
        if job is None:
            self._children_ready = False
        report = await self._read_report()
        if report is not None and self._stale(report):
            report = None
        running = report is not None and report.state in (DriverState.RUNNING, DriverState.STORING)
        if self.status.phase is Phase.PROVISIONING:
            if running or (report is not None and report.state is DriverState.SUCCEEDED):
                assert report is not None
                await self._started(report, spec)
            else:
                await self._check_startup(spec)
        if report is not None and self.status.phase is Phase.RUNNING:
            await self._progress(report)
        if _condition(job, "Complete") or _condition(job, "Failed"):
            await self._finish(spec, job, report)
            return True
        return False

    def _stale(self, report: DriverReport) -> bool:
        # A little slack: the driver's clock and the operator's are different machines' clocks.
        return self._provisioning_at is not None and report.updated < self._provisioning_at - STALE_SLACK

    async def _started(self, report: DriverReport, spec: RetrodictionTrainingSpec) -> None:
        if self._provisioning_since is not None:
            metrics.PROVISIONING_SECONDS.observe(time.monotonic() - self._provisioning_since)
        cluster = DaskClusterRef(scheduler_address=report.scheduler_address, dashboard_url=report.dashboard_url)
        if spec.dask.mode == "kubernetes":
            cluster.name = dask_cluster_name(self.meta["name"])
        await self.set_phase(
            Phase.RUNNING,
            EventReason.RUN_STARTED,
            f"{report.batches.total} batches on {report.scheduler_address or spec.dask.mode}",
            extra=self._progress_fields(report).applied_to(RunStatusPatch(dask_cluster=cluster)),
        )

    async def _check_startup(self, spec: RetrodictionTrainingSpec) -> None:
        if spec.dask.mode == "kubernetes":
            namespace, name = self.meta["namespace"], dask_cluster_name(self.meta["name"])
            cluster = await self._call(self.ctx.api.get_dask_cluster, namespace, name)
            if ((cluster or {}).get("status") or {}).get("phase") == "Error":
                raise RunFailedError(EventReason.CLUSTER_FAILED, f"DaskCluster {name} is in phase Error")
        if self._provisioning_since is None:
            self._provisioning_since = time.monotonic()
        limit = self.ctx.settings.cluster_startup_timeout_seconds + STARTUP_MARGIN_SECONDS
        if time.monotonic() - self._provisioning_since > limit:
            raise RunFailedError(
                EventReason.CLUSTER_FAILED,
                f"the run's driver did not start its batches within {limit:.0f} s "
                f"(see `kubectl describe job {driver_job_name(self.meta['name'])}` and its pods)",
            )

    def _progress_fields(self, report: DriverReport) -> RunStatusPatch:
        return progress_patch(report, now=self.ctx.now())

    async def _progress(self, report: DriverReport) -> None:
        key = (report.batches, report.completed_percentage, report.estimated_remaining_seconds)
        if key == self._last_progress or not self.throttle.should_write():
            return
        self._last_progress = key
        await self._write(self._progress_fields(report), "progress")

    # -- the end --------------------------------------------------------------------------------------------------

    def _summary_ref(self, spec: RetrodictionTrainingSpec, report: DriverReport | None) -> SummaryRef:
        """Where the driver stored the summary and its HTML report: the operator names them from the spec (and,
        for the report, from where the driver's report says it went); it never reads either."""
        name, namespace, uid = self.meta["name"], self.meta["namespace"], self.meta["uid"]
        config_map, uri = summary_places(spec.output, self.meta)
        html = set(report.html_report) if report is not None else set()
        return SummaryRef(
            config_map=config_map,
            uri=uri,
            report_config_map=report_configmap_name(config_map) if config_map and "configMap" in html else None,
            report_uri=report_uri(spec.output.uri, namespace, name, uid) if spec.output.uri and "uri" in html else None,
        )

    async def _finish(
        self, spec: RetrodictionTrainingSpec, job: Mapping[str, Any] | None, report: DriverReport | None
    ) -> None:
        final = progress_patch(report, now=self.ctx.now(), finished=True) if report else RunStatusPatch()
        if _condition(job, "Complete"):
            extra = final.applied_to(RunStatusPatch(summary_ref=self._summary_ref(spec, report)))
            counts = report.batches if report else None
            message = f"{counts.succeeded}/{counts.total} batches" if counts else "done"
            if counts and counts.failed:
                limit = spec.execution.max_failed_batches
                message += f", {counts.failed} failed (maxFailedBatches={limit})"
            self._summary_event(self._summary_ref(spec, report))
            self._export_trust(spec, report)
            await self._release_cluster(spec)
            await self.set_phase(Phase.SUCCEEDED, EventReason.RUN_SUCCEEDED, message, extra=extra)
            return
        failed = _condition(job, "Failed") or {}
        if report is not None and report.state is DriverState.FAILED and report.reason:
            reason, message = report.reason, report.message or report.reason
        elif failed.get("reason") == "DeadlineExceeded":
            reason, message = EventReason.DEADLINE_EXCEEDED, "the driver Job's deadline passed before it finished"
        else:
            reason = EventReason.DRIVER_FAILED
            message = f"the driver Job failed ({failed.get('reason', 'unknown')}): {failed.get('message', '')}"[:1024]
        extra = final
        # The driver stores what finished before it reports these: the partial summary is there to read.
        if reason in (EventReason.BATCHES_FAILED, EventReason.DEADLINE_EXCEEDED) and report is not None:
            extra = final.applied_to(RunStatusPatch(summary_ref=self._summary_ref(spec, report)))
            self._summary_event(self._summary_ref(spec, report))
        await self._finish_failed(reason, message, extra, spec)

    def _export_trust(self, spec: RetrodictionTrainingSpec, report: DriverReport | None) -> None:
        """A schedule's run: its trust per model and horizon, from the capped and validated report, as the
        schedule's gauges (controller/metrics.py), labelled from this spec only."""
        schedule = schedule_of(self.ctx.body["metadata"])  # None for a run made by hand
        if report is None or report.trust is None or schedule is None:
            return
        models = [*spec.retrodiction.models, *(model.name for model in spec.retrodiction.custom_models)]
        metrics.set_schedule_trust(
            self.meta["namespace"], schedule.name, report.trust, models, spec.retrodiction.horizons
        )

    def _summary_event(self, ref: SummaryRef) -> None:
        where = " and ".join(part for part in (ref.config_map and f"ConfigMap {ref.config_map}", ref.uri) if part)
        self.ctx.api.event(
            self.ctx.body, "Normal", EventReason.SUMMARY_STORED, f"summary stored in {where or 'nowhere'}"
        )

    async def _release_cluster(self, spec: RetrodictionTrainingSpec | None) -> None:
        if spec is not None and spec.dask.mode == "kubernetes" and not self.ctx.settings.keep_clusters:
            await self._call(
                self.ctx.api.delete_dask_cluster, self.meta["namespace"], dask_cluster_name(self.meta["name"])
            )

    async def _finish_failed(
        self,
        reason: str,
        message: str,
        extra: RunStatusPatch | None = None,
        spec: RetrodictionTrainingSpec | None = None,
    ) -> None:
        await self._release_cluster(spec)
        await self.set_phase(Phase.FAILED, reason, message, extra=extra)

    async def _suspend(self, spec: RetrodictionTrainingSpec) -> None:
        if self.status.phase is Phase.SUSPENDED:
            return
        # The Job deletes its pod (the driver leaves its batches to the checkpoints) and the cluster goes.
        await self._call(self.ctx.api.suspend_job, self.meta["namespace"], driver_job_name(self.meta["name"]), True)
        await self._release_cluster(spec)
        await self.set_phase(Phase.SUSPENDED, EventReason.RUN_SUSPENDED, "suspended; finished batches are kept")

    async def give_up(self, error: BaseException) -> None:
        """The operator itself failed on this run several times: fail it visibly instead of retrying forever."""
        self.status = read_status(self.ctx.body.get("status"))
        if (phase := self.status.phase) is not None and phase.finished:
            return
        await self.set_phase(
            Phase.FAILED, EventReason.RUN_FAILED, f"operator error, gave up: {type(error).__name__}: {error}"
        )


def expire_if_due(api: RunApi, body: Mapping[str, Any], now: datetime) -> float | None:
    """Delete a finished run once ttlSecondsAfterFinished has passed; returns the seconds still to wait."""
    ttl = (body.get("spec", {}).get("execution") or {}).get("ttlSecondsAfterFinished")
    finished = parse_rfc3339((body.get("status") or {}).get("completionTime"))
    if ttl is None or finished is None:
        return None
    due = finished + timedelta(seconds=int(ttl))
    if now >= due:
        meta = body["metadata"]
        api.delete_run(meta["namespace"], meta["name"])
        return 0.0
    return (due - now).total_seconds()
