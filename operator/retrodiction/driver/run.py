"""A run's driver: what `retrodiction train rt/NAME` does inside the run's Job, in the run's namespace.

It is the CLI's training on a laptop, with the cluster as its sinks: the spec is read from the run, progress goes
to a small report the operator copies into the status, finished batches are checkpointed in ConfigMaps the run
owns (or under spec.output.uri), and the summary is stored where spec.output says. The driver is the only Dask
client of its run and the only process that reads its data: the operator never does either.

Exit codes (api/report.py DriverExit): 0 done; 1 the run failed (batches, cluster, summary); 2 bad input; 3 the
deadline passed. The Job fails at once on those; anything else (a crash, an eviction, SIGKILL) gets a new pod,
which resumes from the checkpoints and the batches still held by the scheduler.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import FrameType
from typing import Any

import fsspec
from distributed import Client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from retrodiction.api.children import (
    DATA_CREDENTIALS_PREFIX,
    OUTPUT_CREDENTIALS_PREFIX,
    dask_cluster_name,
)
from retrodiction.api.errors import format_validation_error
from retrodiction.api.outputs import checkpoint_uri, report_uri, summary_places, summary_uri
from retrodiction.api.policy import violations
from retrodiction.api.report import DriverExit, DriverState
from retrodiction.api.summary import RetrodictionSummary
from retrodiction.api.training import (
    DEFAULT_MAX_HISTORY_ROWS,
    RetrodictionTraining,
    RetrodictionTrainingSpec,
    SecretRef,
)
from retrodiction.config import TrainingConfig
from retrodiction.coordinator import CoordinatorState, ParallelTrainingCoordinator
from retrodiction.data import DataError
from retrodiction.data.credentials import credentials_from_environment, resolve_storage_options
from retrodiction.driver.checkpoints import ConfigMapCheckpoint
from retrodiction.driver.history_configmap import HistoryRecorder
from retrodiction.driver.kube import DriverApi
from retrodiction.driver.report import ReportWriter, reported_trust
from retrodiction.driver.settings import DriverSettings
from retrodiction.driver.summary_configmaps import report_configmap, summary_configmaps
from retrodiction.execution.checkpoint import CheckpointStore, FsspecCheckpoint
from retrodiction.execution.clusters import connect, local_cluster_client
from retrodiction.execution.progress import Progress
from retrodiction.execution.task import BatchResult
from retrodiction.identity import EventReason
from retrodiction.ownership import NotOwnedError
from retrodiction.times import parse_rfc3339

log = logging.getLogger(__name__)

SCHEDULER_PORT = 8786
# The HTML report's table has a row per result: past this many the page (tens of MB) helps nobody and costs the
# driver its memory; `retrodiction report` can still draw it from the summary.
MAX_REPORT_RESULTS = 100_000


class StopReason(StrEnum):
    """Why the driver stopped its coordinator before the batches were done."""

    STOPPED = "stopped"  # SIGTERM: the work is left on the scheduler for the next driver
    DEADLINE = "deadline"  # activeDeadlineSeconds passed: the batches are cancelled


class RunEndedError(Exception):
    """Ends the run for good: reported with this reason and message (and `report` fields, such as the final
    counters), and the driver exits with `exit_code`."""

    def __init__(
        self, exit_code: int, reason: EventReason, message: str, report: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.reason = reason
        self.message = message
        self.report = dict(report or {})


class StoppedError(Exception):
    """The pod is being stopped (SIGTERM: the run suspended or deleted, the pod evicted): leave the work as it is."""


def scheduler_address(run_name: str, namespace: str) -> str:
    """The address of a kubernetes-mode run's scheduler, over the run's TLS, by its Service's cluster DNS name."""
    return f"tls://{dask_cluster_name(run_name)}-scheduler.{namespace}.svc.cluster.local:{SCHEDULER_PORT}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


class Driver:
    def __init__(
        self,
        api: DriverApi,
        namespace: str,
        name: str,
        *,
        settings: DriverSettings,
        scheduler: str | None = None,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.settings = settings
        self.scheduler = scheduler
        # Set from outside (install_stop_handler: SIGTERM) to stop the run and leave its work for the next driver.
        self.stop = threading.Event()
        self.report: ReportWriter | None = None
        self.history: HistoryRecorder | None = None
        self.html_report: list[str] = []
        self.meta: dict[str, Any] = {}

    # -- the whole run -------------------------------------------------------------------------------------------

    def run(self) -> int:
        try:
            training, started = self._load()
            self.report = ReportWriter(self.api, self.meta, interval=self.settings.status_interval_seconds)
            self.report.state(DriverState.PLANNING)
            return self._drive(training.spec, started)
        except RunEndedError as failure:
            log.error("%s: %s", failure.reason, failure.message)
            if self.history is not None:  # a no-op when the slot was written with the summary
                self.history.record(None, phase="Failed", reason=failure.reason)
            if self.report is not None:
                self.report.state(
                    DriverState.FAILED, reason=failure.reason, message=failure.message[:1024], **failure.report
                )
            return failure.exit_code
        except StoppedError:
            log.info("stopped; the work is left for the next driver")
            return 143
        except Exception as error:  # a bug or an outage: the Job tries again with a new pod (its back-off limit)
            log.exception("the driver failed")
            if self.report is not None:
                # Only the kind of error: its text may quote data. The pod's log has the traceback.
                message = f"the driver failed with {type(error).__name__}; see the log of its pod"
                self.report.state(DriverState.FAILED, reason=EventReason.DRIVER_ERROR, message=message)
            return DriverExit.CRASHED

    def _load(self) -> tuple[RetrodictionTraining, datetime | None]:
        try:
            body = self.api.get_run(self.namespace, self.name)
        except ApiException as err:
            raise RunEndedError(
                DriverExit.BAD_INPUT, EventReason.RUN_NOT_FOUND, f"cannot read run {self.name}: {err.reason}"
            ) from None
        meta = body.get("metadata") or {}
        if self.settings.run_uid and meta.get("uid") != self.settings.run_uid:
            raise RunEndedError(
                DriverExit.BAD_INPUT,
                EventReason.RUN_REPLACED,
                f"run {self.name} is not the run this driver was made for",
            )
        self.meta = {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")}
        self.history = HistoryRecorder(self.api, meta)
        try:
            training = RetrodictionTraining.model_validate(body)
        except ValidationError as err:
            raise RunEndedError(
                DriverExit.BAD_INPUT, EventReason.INVALID_SPEC, format_validation_error(err, "")
            ) from None
        started = (body.get("status") or {}).get("startTime")
        return training, parse_rfc3339(started)

    def _drive(self, spec: RetrodictionTrainingSpec, started: datetime | None) -> int:
        assert self.report is not None
        policy = self.settings.policy
        if policy is not None:
            problems = violations(spec, policy, default_image=spec.dask.image or "")
            if problems:
                raise RunEndedError(DriverExit.BAD_INPUT, EventReason.POLICY_VIOLATION, "; ".join(map(str, problems)))
        coordinator = ParallelTrainingCoordinator(
            self._config(spec),
            max_workers=min(spec.dask.workers, self.settings.local_max_workers),
            run_name=self.meta["name"],
            run_uid=self.meta["uid"],
            namespace=self.meta["namespace"],
            checkpoint=self._checkpoint(spec),
            publish_name=f"retrodiction-{self.meta['uid']}",
        )
        try:
            coordinator.prepare_spec_batches(spec)
        except DataError as err:
            # The public part only: the status says which field and rule, never what the data holds.
            raise RunEndedError(DriverExit.BAD_INPUT, EventReason.INVALID_SPEC, err.public) from None
        self._check_rows(coordinator)
        deadline = self._deadline(spec, started)
        total = self.report.report.batches.model_copy(update={"total": len(coordinator.batches)})
        self.report.state(DriverState.CONNECTING, batches=total)
        with self._cluster(spec) as (client, address):
            coordinator.client = client
            self.report.state(DriverState.RUNNING, scheduler_address=address, dashboard_url=client.dashboard_link)
            why = self._run_batches(coordinator, spec, deadline)
        if why is StopReason.STOPPED:
            raise StoppedError()
        self.report.state(DriverState.STORING)
        summary = coordinator.summary()
        self._store_summary(summary, coordinator, spec)
        self._record_in_history(summary, coordinator, spec, deadline_passed=why is StopReason.DEADLINE)
        return self._finish(summary, coordinator, spec, deadline_passed=why is StopReason.DEADLINE)

    # -- pieces --------------------------------------------------------------------------------------------------

    @property
    def _anonymous(self) -> bool:
        """No credentials of the node or pod unless the admin policy allows them (never so without a policy)."""
        return self.settings.policy is not None and not self.settings.policy.ambient_credentials

    def _credentials_prefix(self, secret: SecretRef | None, prefix: str, field: str) -> str | None:
        """`prefix` when the spec names a Secret whose keys reached this pod's environment; None without one. A
        named Secret that is missing (its envFrom is optional) fails the run naming the field."""
        if secret is None:
            return None
        if not credentials_from_environment(prefix):
            raise RunEndedError(
                DriverExit.BAD_INPUT,
                EventReason.INVALID_SPEC,
                f"{field}: Secret {secret.name!r} was not found in namespace {self.namespace!r} or holds no keys",
            )
        return prefix

    def _config(self, spec: RetrodictionTrainingSpec) -> TrainingConfig:
        prefix = self._credentials_prefix(
            spec.data.credentials_secret_ref, DATA_CREDENTIALS_PREFIX, "spec.data.credentialsSecretRef"
        )
        policy = self.settings.policy
        return TrainingConfig.from_spec(
            spec,
            credentials_prefix=prefix,
            anonymous=self._anonymous,
            max_history_rows=policy.max_history_rows if policy is not None else DEFAULT_MAX_HISTORY_ROWS,
        )

    def _output_options(self, spec: RetrodictionTrainingSpec) -> dict[str, Any]:
        assert spec.output.uri is not None
        prefix = self._credentials_prefix(
            spec.output.credentials_secret_ref, OUTPUT_CREDENTIALS_PREFIX, "spec.output.credentialsSecretRef"
        )
        return resolve_storage_options(
            spec.output.uri, spec.output.storage_options, credentials_prefix=prefix, anonymous=self._anonymous
        )

    def _checkpoint(self, spec: RetrodictionTrainingSpec) -> CheckpointStore:
        if spec.output.uri:
            uri = checkpoint_uri(spec.output.uri, self.meta["namespace"], self.meta["name"], self.meta["uid"])
            return FsspecCheckpoint(uri, self._output_options(spec))
        return ConfigMapCheckpoint(self.api, self.meta, interval=self.settings.status_interval_seconds)

    def _check_rows(self, coordinator: ParallelTrainingCoordinator) -> None:
        policy = self.settings.policy
        if policy is None or coordinator.plan is None:
            return
        largest = max((batch.n_rows for batch in coordinator.plan.batches), default=0)
        if largest > policy.max_rows_per_batch:
            raise RunEndedError(
                DriverExit.BAD_INPUT,
                EventReason.POLICY_VIOLATION,
                f"spec.window.batchSizeDays: a batch would load {largest} rows (warm-up included), over the "
                f"limit of {policy.max_rows_per_batch}; use smaller batches (or a custom model's lookback)",
            )

    def _deadline(self, spec: RetrodictionTrainingSpec, started: datetime | None) -> datetime | None:
        seconds = spec.execution.active_deadline_seconds
        if seconds is None:
            return None
        return (started or datetime.now(UTC)) + timedelta(seconds=seconds)

    @contextmanager
    def _cluster(self, spec: RetrodictionTrainingSpec) -> Iterator[tuple[Client, str]]:
        if spec.dask.mode == "local":
            workers = min(spec.dask.workers, self.settings.local_max_workers)
            # A pod's log is for whoever runs the cluster: Dask's own lines stay in it (the CLI quiets them).
            with local_cluster_client(workers, verbose=True) as client:
                yield client, str(client.scheduler_info()["address"])
            return
        address = self.scheduler or spec.dask.address
        if not address:
            raise RunEndedError(
                DriverExit.BAD_INPUT, EventReason.INVALID_SPEC, "spec.dask.address: no scheduler to connect to"
            )
        client = self._wait_for_scheduler(address)
        with client:
            yield client, address

    def _wait_for_scheduler(self, address: str) -> Client:
        timeout = self.settings.cluster_startup_timeout_seconds
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if self.stop.is_set():
                raise StoppedError()
            remaining = deadline - time.monotonic()
            try:
                return connect(address, max(1.0, min(10.0, remaining)))
            except (OSError, TimeoutError) as err:
                last = _first_line(f"{type(err).__name__}: {err}")
            if time.monotonic() >= deadline:
                raise RunEndedError(
                    DriverExit.RUN_FAILED,
                    EventReason.CLUSTER_FAILED,
                    f"the scheduler at {address} did not answer within {timeout:.0f} s ({last})",
                )
            self.stop.wait(1.0)

    def _run_batches(
        self, coordinator: ParallelTrainingCoordinator, spec: RetrodictionTrainingSpec, deadline: datetime | None
    ) -> StopReason | None:
        """Run until done; a watcher stops the coordinator on SIGTERM (leaving the batches to the next driver) or
        at the deadline (cancelling them)."""
        assert self.report is not None
        report = self.report
        why: list[StopReason] = []
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.5):
                if self.stop.is_set():
                    why.append(StopReason.STOPPED)
                    coordinator.stop_training(cancel=False)
                    return
                if deadline is not None and datetime.now(UTC) >= deadline:
                    why.append(StopReason.DEADLINE)
                    coordinator.stop_training(cancel=True)
                    return

        workers = spec.dask.workers

        def on_progress(progress: Progress) -> None:
            # In flight, not merely submitted: at most one batch per worker thread.
            running = min(workers, max(0, progress.total - progress.completed))
            report.progress(progress, running=running)

        watcher = threading.Thread(target=watch, name="watch", daemon=True)
        watcher.start()
        try:
            coordinator.run_training(on_progress, _record_metrics)
        finally:
            done.set()
            watcher.join()
        return why[0] if why else None

    def _store_summary(
        self, summary: RetrodictionSummary, coordinator: ParallelTrainingCoordinator, spec: RetrodictionTrainingSpec
    ) -> None:
        try:
            if spec.output.config_map.enabled:
                for manifest in summary_configmaps(self.meta, summary, name=spec.output.config_map.name):
                    self.api.apply_configmap(manifest, self.meta["uid"])
            if spec.output.uri:
                uri = summary_uri(spec.output.uri, self.meta["namespace"], self.meta["name"], self.meta["uid"])
                with fsspec.open(uri, "w", **self._output_options(spec)) as handle:
                    json.dump(summary.to_dict(), handle, indent=1)
        except NotOwnedError as err:
            raise RunEndedError(
                DriverExit.RUN_FAILED, EventReason.RUN_FAILED, f"spec.output.configMap: {err}"
            ) from None
        except ApiException as err:
            message = f"could not store the summary in a ConfigMap ({err.status} {err.reason})"
            raise RunEndedError(DriverExit.RUN_FAILED, EventReason.RUN_FAILED, message) from None
        except (OSError, ValueError) as err:
            # The kind of error only: an object store's answer may quote what it holds.
            message = f"spec.output.uri: could not write the summary ({type(err).__name__})"
            raise RunEndedError(DriverExit.RUN_FAILED, EventReason.RUN_FAILED, message) from None
        self.html_report = self._store_html_report(summary, spec)
        if isinstance(coordinator.checkpoint, ConfigMapCheckpoint):
            coordinator.checkpoint.remove()

    def _store_html_report(self, summary: RetrodictionSummary, spec: RetrodictionTrainingSpec) -> list[str]:
        """The HTML report beside the summary: in a ConfigMap when it fits one, and under spec.output.uri when set;
        returns where it went. An image without the report's libraries (a custom one built before the driver
        wrote reports) stores none and says so in its log: the summary is what the run promised."""
        if len(summary.results) > MAX_REPORT_RESULTS:
            log.warning(
                "no HTML report: %d results are too many for one page (the summary holds them)", len(summary.results)
            )
            return []
        try:
            from retrodiction.report.html_report import render_html_report
        except ImportError as err:
            log.warning("no HTML report: this image lacks %s", err.name)
            return []
        html = render_html_report(summary)
        stored: list[str] = []
        if spec.output.config_map.enabled:
            manifest = report_configmap(self.meta, html, summary_name=spec.output.config_map.name)
            if manifest is None:
                log.warning("the HTML report is too large for a ConfigMap; it is stored only under spec.output.uri")
            else:
                try:
                    self.api.apply_configmap(manifest, self.meta["uid"])
                    stored.append("configMap")
                except (ApiException, NotOwnedError) as err:
                    log.warning("could not store the HTML report in a ConfigMap: %s", err)
        if spec.output.uri:
            uri = report_uri(spec.output.uri, self.meta["namespace"], self.meta["name"], self.meta["uid"])
            try:
                with fsspec.open(uri, "w", encoding="utf-8", **self._output_options(spec)) as handle:
                    handle.write(html)
            except (OSError, ValueError) as err:
                message = f"spec.output.uri: could not write the HTML report ({type(err).__name__})"
                raise RunEndedError(DriverExit.RUN_FAILED, EventReason.RUN_FAILED, message) from None
            stored.append("uri")
        return stored

    def _record_in_history(
        self,
        summary: RetrodictionSummary,
        coordinator: ParallelTrainingCoordinator,
        spec: RetrodictionTrainingSpec,
        *,
        deadline_passed: bool,
    ) -> None:
        """The run's slot in its schedule's history, with the summary just stored (partial when the run fails)."""
        assert self.history is not None
        reason = None
        if deadline_passed:
            reason = EventReason.DEADLINE_EXCEEDED
        elif coordinator.state is CoordinatorState.FAILED:
            reason = EventReason.BATCHES_FAILED
        config_map, uri = summary_places(spec.output, self.meta)
        self.history.record(
            summary,
            phase="Failed" if reason else "Succeeded",
            reason=reason,
            summary_config_map=config_map,
            summary_uri=uri,
        )

    def _finish(
        self,
        summary: RetrodictionSummary,
        coordinator: ParallelTrainingCoordinator,
        spec: RetrodictionTrainingSpec,
        *,
        deadline_passed: bool,
    ) -> int:
        assert self.report is not None
        batches = summary.batches
        done = batches.succeeded + batches.failed
        final: dict[str, Any] = {
            "batches": self.report.report.batches.model_copy(
                update={"total": batches.total, "succeeded": batches.succeeded, "failed": batches.failed, "running": 0}
            ),
            "completed_percentage": 100.0 if not batches.total else round(100.0 * done / batches.total, 2),
            "estimated_remaining_seconds": 0,
        }
        if deadline_passed:
            raise RunEndedError(
                DriverExit.DEADLINE,
                EventReason.DEADLINE_EXCEEDED,
                f"activeDeadlineSeconds={spec.execution.active_deadline_seconds} passed with "
                f"{batches.succeeded}/{batches.total} batches done",
                final,
            )
        if coordinator.state is CoordinatorState.FAILED:
            raise RunEndedError(
                DriverExit.RUN_FAILED, EventReason.BATCHES_FAILED, coordinator.failure_reason or "batches failed", final
            )
        note = None
        if batches.failed:
            note = f"{batches.failed} batch(es) failed (maxFailedBatches={spec.execution.max_failed_batches})"
        trust = reported_trust(summary, coordinator.config.model_names, spec.retrodiction.horizons)
        self.report.state(DriverState.SUCCEEDED, message=note, trust=trust, html_report=self.html_report, **final)
        return DriverExit.OK


def _record_metrics(result: BatchResult) -> None:
    from retrodiction.driver import metrics

    metrics.BATCHES.labels(result.outcome).inc()
    if result.ok:
        metrics.BATCH_SECONDS.observe(result.seconds)


def install_stop_handler(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM (the pod being deleted: a suspend, an eviction, the run deleted) sets `stop`; returns the undo."""
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)

    def undo() -> None:
        signal.signal(signal.SIGTERM, previous)

    return undo


def drive(namespace: str, name: str, *, scheduler: str | None = None, settings: DriverSettings | None = None) -> int:
    """Drive one run to its end; returns the exit code."""
    from retrodiction.driver import metrics
    from retrodiction.kube_client import api_client

    settings = settings or DriverSettings()
    metrics.serve(settings)
    driver = Driver(DriverApi(api_client()), namespace, name, settings=settings, scheduler=scheduler)
    undo = install_stop_handler(driver.stop)
    try:
        return driver.run()
    finally:
        undo()


def make_tls_secret(namespace: str, name: str, settings: DriverSettings | None = None) -> int:
    """The init container's job: the run's TLS Secret, made once (a second pod of the Job finds it there)."""
    from retrodiction.driver.tls import make_certificates, tls_secret
    from retrodiction.kube_client import api_client

    settings = settings or DriverSettings()
    api = DriverApi(api_client())
    meta: Mapping[str, Any] = {"name": name, "namespace": namespace, "uid": settings.run_uid}
    if not settings.run_uid:
        log.error("RETRODICTION_RUN_UID is not set: the Secret could not be owned by its run")
        return DriverExit.BAD_INPUT
    created = api.create_secret(tls_secret(meta, make_certificates(name, namespace)))
    log.info("TLS Secret of run %s/%s %s", namespace, name, "created" if created else "already there")
    return DriverExit.OK
