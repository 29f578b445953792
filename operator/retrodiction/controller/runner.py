"""One RetrodictionTraining from Pending to Succeeded or Failed, driven from a Kopf daemon thread.

Every step can be replayed after a crash at any line: phases are re-derived from the stored status, the cluster is
created-or-adopted, finished batches come back from the checkpoint (or are still held by the scheduler), and
the summary is written with create-or-replace. Permanent problems (an invalid spec, missing data) end the run
Failed with a reason; nothing here retries them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from retrodiction.api.errors import format_validation_error
from retrodiction.api.status import Phase
from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.config import TrainingConfig
from retrodiction.controller import events, metrics
from retrodiction.controller.checkpoints import ConfigMapCheckpoint
from retrodiction.controller.clusters import ClusterFailedError, Flag, StoppedError, delete_cluster, open_cluster
from retrodiction.controller.conditions import parse_timestamp
from retrodiction.controller.kube import KubeApi, NotOwnedError
from retrodiction.controller.settings import OperatorSettings
from retrodiction.controller.status import StatusThrottle, current_phase, progress_patch, transition
from retrodiction.controller.summary_configmaps import summary_configmaps
from retrodiction.controller.summary_store import checkpoint_uri, summary_ref, summary_uri
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data import DataError
from retrodiction.execution.checkpoint import CheckpointStore, FsspecCheckpoint
from retrodiction.execution.task import BatchResult

log = logging.getLogger(__name__)


class RunFailedError(Exception):
    """A permanent failure of the run: recorded in status with this reason, never retried."""

    def __init__(self, reason: str, message: str, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.extra = dict(extra or {})


@dataclass
class RunContext:
    api: KubeApi
    settings: OperatorSettings
    body: Mapping[str, Any]  # a live view: Kopf keeps it current as the object changes
    stopped: Flag  # set when the run is deleted or the operator stops
    detach_on_stop: Callable[[], bool] = lambda: False  # True when the operator (not the run) is going away
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class Runner:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        meta = ctx.body["metadata"]
        self.meta = {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]}
        self.status: dict[str, Any] = dict(ctx.body.get("status") or {})
        self.throttle = StatusThrottle(ctx.settings.status_interval_seconds)

    # -- status ---------------------------------------------------------------------------------------------------

    @property
    def generation(self) -> int | None:
        generation = self.ctx.body["metadata"].get("generation")
        return None if generation is None else int(generation)

    def _write(self, patch: Mapping[str, Any], kind: str) -> None:
        self.ctx.api.patch_run_status(self.meta["namespace"], self.meta["name"], patch)
        self.status.update(patch)
        metrics.STATUS_PATCHES.labels(kind).inc()

    def set_phase(self, to: Phase, reason: str, message: str, extra: Mapping[str, Any] | None = None) -> None:
        before = current_phase(self.status)
        patch = transition(
            self.status, to, reason=reason, message=message, now=self.ctx.now(), generation=self.generation
        )
        patch.update(extra or {})
        self._write(patch, "phase")
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

    # -- the run --------------------------------------------------------------------------------------------------

    def run(self) -> None:
        if (phase := current_phase(self.status)) is not None and phase.finished:
            return
        try:
            spec = RetrodictionTrainingSpec.model_validate(self.ctx.body["spec"])
        except ValidationError as err:
            self.set_phase(Phase.FAILED, events.INVALID_SPEC, format_validation_error(err, "spec"))
            return
        if current_phase(self.status) is None and not self._suspended():
            # Pending covers planning: reading the data's time axis can take a while for a large remote file.
            self.set_phase(Phase.PENDING, "Planning", f"reading the time axis of {spec.data.uri} to plan batches")
        while not self.ctx.stopped.is_set():
            if self._suspended():
                self._hold_suspended(spec)
                continue
            try:
                outcome = self._attempt(spec)
            except RunFailedError as failure:
                self._finish_failed(spec, failure.reason, failure.message, failure.extra)
                return
            if outcome != "suspended":
                return

    def _suspended(self) -> bool:
        return bool(self.ctx.body["spec"].get("execution", {}).get("suspend", False))

    def _hold_suspended(self, spec: RetrodictionTrainingSpec) -> None:
        if current_phase(self.status) is not Phase.SUSPENDED:
            self.set_phase(Phase.SUSPENDED, events.RUN_SUSPENDED, "suspended; finished batches are kept")
            if not self.ctx.settings.keep_clusters:
                delete_cluster(self.ctx.api, self.meta, spec)
        while self._suspended() and not self.ctx.stopped.wait(1.0):
            pass

    def _attempt(self, spec: RetrodictionTrainingSpec) -> str:
        """Provision, run the batches, finish. Returns 'done', 'suspended' or 'stopped'."""
        config = self._config(spec)
        coordinator = ParallelTrainingCoordinator(
            config,
            run_name=self.meta["name"],
            run_uid=self.meta["uid"],
            namespace=self.meta["namespace"],
            checkpoint=self._checkpoint(spec),
            publish_name=f"retrodiction-{self.meta['uid']}",
        )
        try:
            coordinator.prepare_spec_batches(spec)
        except DataError as err:
            raise RunFailedError(events.INVALID_SPEC, str(err)) from None
        phase = current_phase(self.status)
        # Provisioning or Running already: an operator restart picks the run up where it was, cluster and all.
        if phase not in (Phase.PROVISIONING, Phase.RUNNING):
            self.set_phase(
                Phase.PROVISIONING,
                events.RUN_RESUMED if phase is Phase.SUSPENDED else events.CLUSTER_CREATING,
                f"{len(coordinator.batches)} batches planned; starting a Dask cluster "
                f"({spec.dask.mode} mode, {spec.dask.workers} worker(s))",
            )
        started = self.ctx.now()
        try:
            with open_cluster(self.ctx.api, self.ctx.settings, self.meta, spec, self.ctx.stopped) as cluster:
                metrics.PROVISIONING_SECONDS.observe((self.ctx.now() - started).total_seconds())
                coordinator.client = cluster.client
                self.set_phase(
                    Phase.RUNNING,
                    events.RUN_STARTED,
                    f"{len(coordinator.batches)} batches on {cluster.ref.get('schedulerAddress')}",
                    extra={"daskCluster": cluster.ref, "batches": {"total": len(coordinator.batches)}},
                )
                stop_reason = self._run_batches(coordinator, spec, cluster.workers)
        except ClusterFailedError as err:
            raise RunFailedError(events.CLUSTER_FAILED, str(err)) from None
        except NotOwnedError as err:
            raise RunFailedError(events.CLUSTER_FAILED, str(err)) from None
        except StoppedError:
            return "stopped"
        if stop_reason == "suspended":
            return "suspended"
        if stop_reason in ("deleted", "detached"):
            return "stopped"
        if stop_reason == "deadline":
            # What finished is kept: the partial summary is stored before the run is marked Failed.
            ref = self._store_summary(coordinator, spec)
            done = coordinator.get_results_summary()["batches"]["succeeded"]
            raise RunFailedError(
                events.DEADLINE_EXCEEDED,
                f"activeDeadlineSeconds={spec.execution.active_deadline_seconds} passed with "
                f"{done}/{len(coordinator.batches)} batches done",
                extra={**ref, **self._final_progress(coordinator)},
            )
        self._finish(coordinator, spec)
        return "done"

    def _secret(self, name: str, field: str) -> dict[str, str]:
        """A Secret's data as storage options; a missing one fails the run naming the field, not a retry loop."""
        try:
            return self.ctx.api.read_secret_data(self.meta["namespace"], name)
        except ApiException as err:
            if err.status in (403, 404):
                raise RunFailedError(
                    events.INVALID_SPEC, f"{field}: cannot read Secret {name!r} ({err.reason})"
                ) from None
            raise

    def _config(self, spec: RetrodictionTrainingSpec) -> TrainingConfig:
        secret = spec.data.credentials_secret_ref
        options = self._secret(secret.name, "spec.data.credentialsSecretRef") if secret else None
        return TrainingConfig.from_spec(spec, secret_options=options)

    def _output_options(self, spec: RetrodictionTrainingSpec) -> dict[str, Any]:
        secret = spec.output.credentials_secret_ref
        options = dict(spec.output.storage_options)
        if secret:
            options.update(self._secret(secret.name, "spec.output.credentialsSecretRef"))
        return options

    def _checkpoint(self, spec: RetrodictionTrainingSpec) -> CheckpointStore:
        if spec.output.uri:
            uri = checkpoint_uri(spec.output.uri, self.meta["namespace"], self.meta["name"], self.meta["uid"])
            return FsspecCheckpoint(uri, self._output_options(spec))
        return ConfigMapCheckpoint(self.ctx.api, self.meta, interval=self.ctx.settings.status_interval_seconds)

    def _deadline(self, spec: RetrodictionTrainingSpec) -> datetime | None:
        seconds = spec.execution.active_deadline_seconds
        if seconds is None:
            return None
        start = self.status.get("startTime")
        began = parse_timestamp(start) or self.ctx.now()
        return began + timedelta(seconds=seconds)

    def _run_batches(
        self, coordinator: ParallelTrainingCoordinator, spec: RetrodictionTrainingSpec, workers: int
    ) -> str | None:
        """Run until done; a watcher stops the coordinator on deletion, suspension or the deadline."""
        stop_reason: list[str] = []
        done = threading.Event()
        deadline = self._deadline(spec)

        def watch() -> None:
            while not done.wait(0.5):
                if self.ctx.stopped.is_set():
                    detach = self.ctx.detach_on_stop()
                    stop_reason.append("detached" if detach else "deleted")
                    coordinator.stop_training(cancel=not detach)
                    return
                if self._suspended():
                    stop_reason.append("suspended")
                    coordinator.stop_training(cancel=True)
                    return
                if deadline is not None and self.ctx.now() >= deadline:
                    stop_reason.append("deadline")
                    coordinator.stop_training(cancel=True)
                    return

        def on_progress(progress: dict[str, Any]) -> None:
            finished = progress["completed"] == progress["total"]
            if self.throttle.should_write(force=finished):
                # In flight, not merely submitted: at most one batch per worker thread.
                running = min(workers, max(0, progress["total"] - progress["completed"]))
                self._write(progress_patch(progress, running=running, now=self.ctx.now()), "progress")

        def on_result(result: BatchResult) -> None:
            metrics.BATCHES.labels("succeeded" if result.ok else "failed").inc()
            if result.ok:
                metrics.BATCH_SECONDS.observe(result.seconds)

        watcher = threading.Thread(target=watch, name=f"watch-{self.meta['name']}", daemon=True)
        watcher.start()
        try:
            coordinator.start_training(progress_callback=on_progress, result_callback=on_result)
        finally:
            done.set()
            watcher.join()
        return stop_reason[0] if stop_reason else None

    # -- finishing ------------------------------------------------------------------------------------------------

    def _store_summary(
        self, coordinator: ParallelTrainingCoordinator, spec: RetrodictionTrainingSpec
    ) -> dict[str, Any]:
        """Write the summary where the spec says; returns the status.summaryRef patch (written with the phase).

        A failure to store fails the run."""
        summary = coordinator.get_results_summary()
        config_map: str | None = None
        uri: str | None = None
        try:
            if spec.output.config_map.enabled:
                maps = summary_configmaps(self.meta, summary, name=spec.output.config_map.name)
                for manifest in maps:
                    self.ctx.api.apply_configmap(manifest, self.meta["uid"])
                config_map = maps[0]["metadata"]["name"]
            if spec.output.uri:
                uri = summary_uri(spec.output.uri, self.meta["namespace"], self.meta["name"], self.meta["uid"])
                with fsspec.open(uri, "w", **self._output_options(spec)) as handle:
                    json.dump(summary, handle, indent=1)
        except (OSError, ValueError, NotOwnedError) as err:
            raise RunFailedError(
                events.RUN_FAILED, f"could not store the summary: {type(err).__name__}: {err}"
            ) from None
        ref = summary_ref(config_map=config_map, uri=uri)
        where = " and ".join(part for part in (config_map and f"ConfigMap {config_map}", uri) if part)
        self.ctx.api.event(self.ctx.body, "Normal", events.SUMMARY_STORED, f"summary stored in {where or 'nowhere'}")
        return ref

    def _final_progress(self, coordinator: ParallelTrainingCoordinator) -> dict[str, Any]:
        batches = coordinator.get_results_summary()["batches"]
        done = batches["succeeded"] + batches["failed"]
        progress = {
            "total": batches["total"],
            "succeeded": batches["succeeded"],
            "failed": batches["failed"],
            "completed_percentage": 100.0 if not batches["total"] else round(100.0 * done / batches["total"], 2),
            "estimated_remaining_seconds": 0,
        }
        return progress_patch(progress, running=0, now=self.ctx.now())

    def _finish(self, coordinator: ParallelTrainingCoordinator, spec: RetrodictionTrainingSpec) -> None:
        # Summary reference, final counters and the phase go out in one status write.
        extra = {**self._store_summary(coordinator, spec), **self._final_progress(coordinator)}
        if not self.ctx.settings.keep_clusters:
            delete_cluster(self.ctx.api, self.meta, spec)
        if coordinator.state == "failed":
            reason = coordinator.failure_reason or "batches failed"
            self.set_phase(Phase.FAILED, events.BATCHES_FAILED, reason, extra=extra)
            return
        batches = extra["batches"]
        failed = batches["failed"]
        note = f", {failed} failed (maxFailedBatches={spec.execution.max_failed_batches})" if failed else ""
        message = f"{batches['succeeded']}/{batches['total']} batches{note}"
        self.set_phase(Phase.SUCCEEDED, events.RUN_SUCCEEDED, message, extra=extra)

    def give_up(self, error: BaseException) -> None:
        """The operator itself failed on this run several times: fail it visibly instead of retrying forever."""
        self.status = dict(self.ctx.body.get("status") or {})
        if (phase := current_phase(self.status)) is not None and phase.finished:
            return
        self.set_phase(Phase.FAILED, events.RUN_FAILED, f"operator error, gave up: {type(error).__name__}: {error}")

    def _finish_failed(
        self, spec: RetrodictionTrainingSpec, reason: str, message: str, extra: Mapping[str, Any] | None = None
    ) -> None:
        if not self.ctx.settings.keep_clusters:
            delete_cluster(self.ctx.api, self.meta, spec)
        self.set_phase(Phase.FAILED, reason, message, extra=extra)


def expire_if_due(api: KubeApi, body: Mapping[str, Any], now: datetime) -> float | None:
    """Delete a finished run once ttlSecondsAfterFinished has passed; returns the seconds still to wait."""
    ttl = (body.get("spec", {}).get("execution") or {}).get("ttlSecondsAfterFinished")
    finished = parse_timestamp((body.get("status") or {}).get("completionTime"))
    if ttl is None or finished is None:
        return None
    due = finished + timedelta(seconds=int(ttl))
    if now >= due:
        meta = body["metadata"]
        api.delete_run(meta["namespace"], meta["name"])
        return 0.0
    return (due - now).total_seconds()
