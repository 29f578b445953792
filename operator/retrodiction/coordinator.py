"""`ParallelTrainingCoordinator`: plan batches, run them on Dask, merge their scores into the summary.

This keeps the Python API of the module the project grew from (`recursive_training.parallel_trainer`), backed
by the real engine. Trust updates travel back inside batch results and are merged here, so nothing is lost in
per-worker buffers.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import fsspec
import orjson
from distributed import Client, Future, as_completed

from retrodiction.api.summary import RetrodictionSummary, SummaryRun, SummaryWindow
from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.batches import Batching, BatchPlan, TrainingBatch, plan_batches
from retrodiction.collector import gc_paused
from retrodiction.config import TrainingConfig
from retrodiction.data import DataError, describe
from retrodiction.engine import warmup_rows
from retrodiction.execution.checkpoint import CheckpointStore
from retrodiction.execution.clusters import local_cluster_client, scheduler_client
from retrodiction.execution.grouping import BatchGroup, done, group_batches
from retrodiction.execution.progress import Progress, ProgressTracker
from retrodiction.execution.task import BatchResult, BatchTask, run_batch_group
from retrodiction.forecasters.plan import CustomModelPlan, custom_warmup_rows
from retrodiction.summary import SummaryAccumulator
from retrodiction.times import as_utc

log = logging.getLogger(__name__)

# The seed API's callback: the counters as the dict `Progress.to_dict()` documents.
ProgressCallback = Callable[[dict[str, Any]], None]
ProgressListener = Callable[[Progress], None]
ResultListener = Callable[[BatchResult], None]
GroupResults = tuple[BatchResult, ...]


class CoordinatorState(StrEnum):
    IDLE = "idle"
    PREPARED = "prepared"
    RUNNING = "running"
    COMPLETED = "completed"
    # Stopped by stop_training(): cancelled, or (DETACHED) left running on the scheduler for the next coordinator.
    STOPPED = "stopped"
    DETACHED = "detached"
    FAILED = "failed"


@dataclass(frozen=True)
class _Listeners:
    """Who hears about each merged batch: its result, then the counters."""

    on_progress: ProgressListener | None
    on_result: ResultListener | None

    def result(self, result: BatchResult, progress: Progress) -> None:
        if self.on_result is not None:
            self.on_result(result)
        if self.on_progress is not None:
            self.on_progress(progress)


def _work(batch: TrainingBatch) -> float:
    """What a batch weighs in the remaining-time estimate: every model scores each of its targets x variables."""
    return float(max(1, batch.n_targets) * len(batch.variables))


class ParallelTrainingCoordinator:
    """Runs a retrodiction training as Dask tasks (one per batch, or per group of light ones: execution/grouping.py)
    and merges the results as they arrive."""

    def __init__(  # noqa: PLR0913 - public API (docs/user-guide.md): callers pass these keywords
        self,
        config: TrainingConfig | Mapping[str, Any] | None = None,
        max_workers: int = 4,
        dask_dashboard_port: int | None = None,
        *,
        client: Client | None = None,
        scheduler_address: str | None = None,
        run_name: str = "retrodiction",
        run_uid: str | None = None,
        namespace: str | None = None,
        checkpoint: CheckpointStore | None = None,
        publish_name: str | None = None,
    ) -> None:
        self.config = TrainingConfig.coerce(config)
        self.max_workers = max_workers
        self.dask_dashboard_port = dask_dashboard_port
        self.client = client
        self.scheduler_address = scheduler_address
        self.run_name = run_name
        self.run_uid = run_uid or str(uuid.uuid4())
        self.namespace = namespace
        self.checkpoint = checkpoint
        # Published tasks outlive this client: a coordinator that dies mid-run leaves its batches running on the
        # scheduler, and the next one (same run uid, same keys) picks them up instead of computing them again.
        self.publish_name = publish_name
        self.batches: list[TrainingBatch] = []
        self.plan: BatchPlan | None = None
        self.state = CoordinatorState.IDLE
        self.failure_reason: str | None = None
        self.start_time: datetime | None = None
        self.completion_time: datetime | None = None
        self.dashboard_link: str | None = None
        self._variables: list[str] = []
        self._window: SummaryWindow | None = None
        self._accumulator: SummaryAccumulator | None = None
        self._futures: list[Future[GroupResults]] = []
        # Per variable, its batches of the current run not merged yet (_settle).
        self._unmerged: Counter[str] = Counter()
        self._waiting: as_completed | None = None
        self._cancel_on_stop = True
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- planning -------------------------------------------------------------------------------------------

    def prepare_training_batches(
        self,
        variables: Sequence[str],
        start_time: datetime,
        end_time: datetime,
        batch_size_days: int = 30,
        variables_per_batch: int | None = None,
    ) -> list[TrainingBatch]:
        """Split [start_time, end_time) x variables into batches; naive datetimes are taken as UTC."""
        start, end = as_utc(start_time), as_utc(end_time)
        if end <= start:
            raise DataError("spec.window", "end must be after start")
        self._check_custom_models()
        info = describe(self.config.source)
        info.check_variables(variables)
        engine = self.config.engine
        batching = Batching(
            batch_size_days=batch_size_days,
            variables_per_batch=variables_per_batch or self.config.variables_per_batch,
            warmup_rows=max(warmup_rows(engine), custom_warmup_rows(self.custom_plans, engine.horizons)),
        )
        plan = plan_batches(info.times, variables, start, end, batching)
        window = SummaryWindow(start=start, end=end, batch_size_days=batch_size_days)
        if not plan.batches:
            first, last = (str(info.times[i])[:10] for i in (0, -1)) if len(info.times) else ("-", "-")
            shown = window.to_dict()
            raise DataError(
                "spec.window",
                f"[{shown['start']}, {shown['end']}) holds no observation",
                f"the data covers {first} .. {last}",
            )
        self.plan = plan
        self.batches = plan.batches
        self._variables = list(variables)
        self._window = window
        self._accumulator = self.make_accumulator()
        self._stop.clear()
        self.state = CoordinatorState.PREPARED
        return self.batches

    def make_accumulator(self) -> SummaryAccumulator:
        """An empty accumulator for this plan's variables and every model of the run."""
        return SummaryAccumulator(
            self._variables,
            self.config.engine,
            custom_models={model.name: sorted(model.levels) for model in self.config.custom_models},
        )

    @property
    def custom_plans(self) -> tuple[CustomModelPlan, ...]:
        return tuple(CustomModelPlan.of(model, self.config.max_history_rows) for model in self.config.custom_models)

    def _check_custom_models(self) -> None:
        """Build each custom model once, here, so a bad one fails the run before any batch is sent."""
        if not self.config.custom_models:
            return
        from retrodiction.forecasters import check_custom_models  # imports statsforecast or a plugin: only if asked

        check_custom_models(self.config.custom_models)

    def prepare_spec_batches(self, spec: RetrodictionTrainingSpec) -> list[TrainingBatch]:
        """prepare_training_batches with the window, variables and batching of a RetrodictionTraining spec."""
        return self.prepare_training_batches(
            spec.variables,
            spec.window.start,
            spec.window.end,
            batch_size_days=spec.window.batch_size_days,
            variables_per_batch=spec.variables_per_batch,
        )

    def fingerprint(self) -> str:
        """Identifies what this plan computes; a checkpoint made under another fingerprint is not reused."""
        window = None if self._window is None else self._window.to_dict()
        return self.config.fingerprint(self._variables, window)

    # -- running --------------------------------------------------------------------------------------------

    def start_training(
        self,
        progress_callback: ProgressCallback | None = None,
        result_callback: ResultListener | None = None,
    ) -> dict[str, Any]:
        """Run every batch not already checkpointed; blocks until done, stopped, or failed. Returns the summary.

        `progress_callback` gets the counters after each batch; `result_callback` each batch's own result.
        """
        on_progress: ProgressListener | None = None
        if progress_callback is not None:
            callback = progress_callback

            def on_progress(progress: Progress) -> None:
                callback(progress.to_dict())

        return self.run_training(on_progress, result_callback).to_dict()

    def run_training(
        self, on_progress: ProgressListener | None = None, on_result: ResultListener | None = None
    ) -> RetrodictionSummary:
        """start_training for callers in this package: progress as a `Progress`, the summary as its model."""
        if self._accumulator is None:
            raise RuntimeError("call prepare_training_batches() before start_training()")
        # The stop flag is cleared when a call ends, not here: a stop requested just before this call must count.
        self.state = CoordinatorState.RUNNING
        self.start_time = self.start_time or datetime.now(UTC)
        try:
            with self._client() as client:
                self._run(client, on_progress, on_result)
        except BaseException:
            if self.state is CoordinatorState.RUNNING:
                self.state = CoordinatorState.FAILED
            raise
        finally:
            # A stop applies to this call only: start_training() again resumes (with a checkpoint, without redoing).
            self._stop.clear()
        self.completion_time = datetime.now(UTC)
        return self.summary()

    def stop_training(self, *, cancel: bool = True) -> None:
        """Stop the run; batches already merged stay in the summary (and in the checkpoint).

        With `cancel` (the default) pending batches are cancelled. Without it they go on running on the scheduler,
        held there under `publish_name`, for a coordinator that takes the run over (an operator restarting).
        """
        self._cancel_on_stop = cancel
        self._stop.set()
        with self._lock:
            futures, waiting = list(self._futures), self._waiting
        if waiting is not None:
            waiting.clear()  # wakes the loop in start_training within 0.1 s
        if futures and cancel:
            futures[0].client.cancel(futures)

    @contextmanager
    def _client(self) -> Iterator[Client]:
        if self.client is not None:
            self.dashboard_link = self.client.dashboard_link
            yield self.client
            return
        if self.scheduler_address:
            with scheduler_client(self.scheduler_address) as client:
                self.dashboard_link = client.dashboard_link
                yield client
            return
        dashboard = f":{self.dask_dashboard_port}" if self.dask_dashboard_port else None
        with local_cluster_client(self.max_workers, dashboard_address=dashboard) as client:
            self.dashboard_link = client.dashboard_link
            yield client

    def tasks(self) -> list[BatchTask]:
        """The work of every planned batch, as sent to Dask (also runnable in-process with run_batch)."""
        return [self._task(batch) for batch in self.batches]

    def _task(self, batch: TrainingBatch) -> BatchTask:
        return BatchTask(
            batch_id=batch.batch_id,
            source=self.config.source,
            variables=tuple(batch.variables),
            start=batch.start_time,
            end=batch.end_time,
            load_start=batch.load_start_time,
            engine=self.config.engine,
            custom_models=self.custom_plans,
            origin_index=batch.origin_index,
        )

    def _restore(self) -> int:
        """Merge checkpointed results of this plan; returns how many batches they cover."""
        if self.checkpoint is None:
            return 0
        assert self._accumulator is not None
        by_id = {batch.batch_id: batch for batch in self.batches}
        restored = 0
        for batch_id, result in sorted(self.checkpoint.load().items()):
            batch = by_id.get(batch_id)
            if batch is None or batch.processed or not result.ok:
                continue
            self._accumulator.add(result)
            batch.processed, batch.processing_time = True, result.seconds
            restored += 1
        return restored

    def _run(self, client: Client, on_progress: ProgressListener | None, on_result: ResultListener | None) -> None:
        resumed = self._restore()
        tracker = ProgressTracker(
            len(self.batches),
            resumed=resumed,
            total_work=sum(_work(batch) for batch in self.batches),
            resumed_work=sum(_work(batch) for batch in self.batches if batch.processed),
        )
        if on_progress is not None:
            on_progress(tracker.snapshot())
        if self._stop.is_set():
            self.state = self._stopped_state()
            return
        by_key = {group.key(self.run_uid): group for group in self.groups_to_send()}
        self._unmerged = Counter(name for batch in self.batches if not done(batch) for name in batch.variables)
        futures = self._submit(client, by_key)
        # The client's own loop: a client made with set_as_default=False is not found by as_completed otherwise.
        waiting = as_completed(futures, loop=client.loop)
        with self._lock:
            self._futures, self._waiting = futures, waiting
        try:
            self._merge(waiting, by_key, tracker, _Listeners(on_progress, on_result))
        finally:
            self._release(client, futures)
        if self.state is CoordinatorState.RUNNING:
            self.state = self._stopped_state() if self._stop.is_set() else CoordinatorState.COMPLETED

    def groups_to_send(self) -> list[BatchGroup]:
        """The unfinished batches as Dask tasks, in the order they are sent (and started: Dask keeps it)."""
        unfinished = [group for group in group_batches(self.batches, self._forecasts_per_cell()) if group.pending]
        if self.config.custom_models:
            # Model fits cost more with more history, so the last slices weigh the most: sent first, they leave
            # the light ones to fill in at the end instead of one worker finishing a heavy batch while others idle.
            unfinished.sort(key=_fitting_work, reverse=True)
        return unfinished

    def _forecasts_per_cell(self) -> int:
        """What one target of one variable costs in scored forecasts, for grouping; 0 (no grouping) with custom
        models, whose batches are heavy enough alone."""
        if self.config.custom_models:
            return 0
        return len(self.config.engine.models) * len(self.config.engine.horizons)

    def _submit(self, client: Client, by_key: Mapping[str, BatchGroup]) -> list[Future[GroupResults]]:
        """Send the batches to the scheduler (and publish them under `publish_name`, for a coordinator taking over)."""
        if not by_key:
            return []
        # One map call sends every task to the scheduler in one message; a submit per batch costs about a
        # millisecond each, which for thousands of batches delays the first result by seconds.
        futures: list[Future[GroupResults]] = client.map(
            run_batch_group,
            [tuple(self._task(batch) for batch in group.batches) for group in by_key.values()],
            key=list(by_key),
            retries=self.config.batch_retries,
            pure=False,
        )
        if self.publish_name:
            client.publish_dataset(futures, name=self.publish_name, override=True)
        return futures

    def _merge(
        self,
        waiting: as_completed,
        by_key: Mapping[str, BatchGroup],
        tracker: ProgressTracker,
        listeners: _Listeners,
    ) -> None:
        """Merge results as they arrive, until all are in, a stop is asked for, or too many batches failed."""
        for future in waiting:
            if self._stop.is_set():
                return
            group = by_key[future.key]
            results = self._collect(future, group)
            future.release()
            merged = []
            for batch, result in zip(group.batches, results, strict=True):
                if done(batch):  # restored from the checkpoint before this group was sent
                    continue
                self._record(batch, result)
                merged.append(batch)
                costs = dict(zip(self.config.model_names, result.model_seconds, strict=False))
                listeners.result(result, tracker.record(result.outcome, work=_work(batch), model_seconds=costs))
            self._settle(merged)
            failure = self._too_many_failures()
            if failure is not None:
                self.state, self.failure_reason = CoordinatorState.FAILED, failure
                return

    def _settle(self, merged: list[TrainingBatch]) -> None:
        """Build the summary's results of the variables that the `merged` batches completed (none of their batches
        left to merge in this run), while the workers go on with the rest."""
        assert self._accumulator is not None
        completed = []
        for batch in merged:
            for name in batch.variables:
                self._unmerged[name] -= 1
                if self._unmerged[name] == 0:
                    completed.append(name)
        self._accumulator.settle(completed)

    def _too_many_failures(self) -> str | None:
        """Why the run fails now: more failed batches than maxFailedBatches allows; None while it may go on."""
        assert self._accumulator is not None
        failed = self._accumulator.failed
        if len(failed) <= self.config.max_failed_batches:
            return None
        return (
            f"{len(failed)} batch(es) failed, more than maxFailedBatches="
            f"{self.config.max_failed_batches}; first: {next(iter(failed.values()))}"
        )

    def _release(self, client: Client, futures: list[Future[GroupResults]]) -> None:
        """After the merge loop: save the checkpoint, then cancel and unpublish what is left, unless detaching."""
        if self.checkpoint is not None:
            self.checkpoint.flush()
        detaching = self._stop.is_set() and not self._cancel_on_stop
        left = [future for future in futures if not future.done()]
        if left and not detaching:
            client.cancel(left)
        if self.publish_name and not detaching:
            with suppress(KeyError):
                client.unpublish_dataset(self.publish_name)
        with self._lock:
            self._futures, self._waiting = [], None

    def _stopped_state(self) -> CoordinatorState:
        return CoordinatorState.STOPPED if self._cancel_on_stop else CoordinatorState.DETACHED

    @staticmethod
    def _collect(future: Future[GroupResults], group: BatchGroup) -> GroupResults:
        """The results of a group's batches, in its order; each batch failed when the task did not give them."""
        try:
            results = future.result()
        except Exception as err:  # the task's own error after its retries ran out, or a lost worker
            return _all_failed(group, f"{type(err).__name__}: {err}".splitlines()[0])
        expected = [batch.batch_id for batch in group.batches]
        if not isinstance(results, tuple) or not all(isinstance(result, BatchResult) for result in results):
            # A worker (whatever image it runs) sent back something else: failed batches, never merged.
            return _all_failed(group, f"the worker returned a {type(results).__name__}, not batch results")
        if [result.batch_id for result in results] != expected:
            return _all_failed(group, "the worker returned the results of other batches")
        return results

    def _record(self, batch: TrainingBatch, result: BatchResult) -> None:
        assert self._accumulator is not None
        self._accumulator.add(result)
        batch.processed = result.ok
        batch.processing_time = result.seconds
        batch.error = result.error
        batch.results = {
            "targets": result.targets,
            "rows_loaded": result.rows_loaded,
            "worker": result.worker,
        }
        if result.ok and self.checkpoint is not None:
            self.checkpoint.save(result)

    # -- results --------------------------------------------------------------------------------------------

    def summary(self) -> RetrodictionSummary:
        """The summary document for what has been merged so far."""
        if self._accumulator is None or self._window is None:
            raise RuntimeError("no batches prepared")
        run = SummaryRun(
            name=self.run_name,
            namespace=self.namespace,
            uid=self.run_uid,
            window=self._window,
            start_time=self.start_time,
            completion_time=self.completion_time,
        )
        return self._accumulator.summary(run, self.config.summary_config(), total_batches=len(self.batches))

    def get_results_summary(self) -> dict[str, Any]:
        """The summary document (see retrodiction/api/summary.py) as JSON-ready dicts."""
        return self.summary().to_dict()

    def save_results_to_file(
        self,
        path: str,
        storage_options: Mapping[str, Any] | None = None,
        *,
        summary: RetrodictionSummary | None = None,
    ) -> None:
        """Write the summary as JSON to a local path or any fsspec URI (s3://bucket/key.json, ...); `summary`, the
        one run_training returned, spares building it again (half a second for 30,000 results)."""
        # orjson: the same indented text as json.dumps(indent=2) (whose indenting encoder is pure Python), 20x
        # faster: 0.03 s instead of 0.6 s for 30,000 results. One write: fsspec pays per call.
        summary = summary or self.summary()
        with gc_paused():  # model_dump makes a dict per result (see SummaryAccumulator.results)
            text = orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
        with fsspec.open(path, "wb", **dict(storage_options or {})) as handle:
            handle.write(text)


def _fitting_work(group: BatchGroup) -> int:
    """A group's weight for custom models: each target of each variable fits on up to the rows the batch reads."""
    return sum(batch.n_targets * len(batch.variables) * batch.n_rows for batch in group.batches)


def _all_failed(group: BatchGroup, message: str) -> GroupResults:
    return tuple(
        BatchResult(batch.batch_id, tuple(batch.variables), None, None, error=message) for batch in group.batches
    )


def run_parallel_retrodiction_training(  # noqa: PLR0913 - public API (docs/user-guide.md): callers pass these keywords
    variables: Sequence[str],
    start_time: datetime,
    end_time: datetime,
    max_workers: int = 4,
    output_file: str | None = None,
    *,
    batch_size_days: int = 30,
    config: TrainingConfig | Mapping[str, Any] | None = None,
    data_uri: str | None = None,
    client: Client | None = None,
    scheduler_address: str | None = None,
    progress_callback: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Plan, run and summarise a training in one call (the seed module's convenience entry point)."""
    resolved = TrainingConfig.coerce(config)
    if data_uri is not None:
        resolved = replace(resolved, source=replace(resolved.source, uri=data_uri))
    coordinator = ParallelTrainingCoordinator(
        config=resolved, max_workers=max_workers, client=client, scheduler_address=scheduler_address
    )
    coordinator.prepare_training_batches(variables, start_time, end_time, batch_size_days=batch_size_days)
    summary = coordinator.start_training(progress_callback=progress_callback)
    if output_file:
        coordinator.save_results_to_file(output_file)
    return summary
