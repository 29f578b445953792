"""Real Dask: a LocalCluster of worker processes runs the batches; the summary equals the in-process one."""

import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from retrodiction.cli import main
from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data import DataSource, make_random_walks, with_gaps, write_dataset
from retrodiction.engine import EngineConfig
from retrodiction.execution.checkpoint import FsspecCheckpoint, MemoryCheckpoint
from retrodiction.execution.clusters import local_cluster_client
from retrodiction.execution.grouping import batches_in_key, group_batches
from retrodiction.execution.task import BatchResult
from retrodiction.summary import SummaryAccumulator
from tests.results import assert_same_results, in_process_results

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START, END = datetime(2001, 1, 1, tzinfo=UTC), datetime(2008, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> DataSource:
    """Daily random walks on local disk, readable by every worker process."""
    path = tmp_path_factory.mktemp("data") / "walks.parquet"
    frame = with_gaps(make_random_walks(60, 4000, seed=7), 0.01, seed=7)
    write_dataset(frame, str(path), format="parquet")
    return DataSource(str(path))


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    with (
        LocalCluster(n_workers=request.param, threads_per_worker=1, processes=True, dashboard_address=":0") as cl,
        Client(cl) as c,
    ):
        yield c


def make_coordinator(source: DataSource, **kwargs: Any) -> ParallelTrainingCoordinator:
    config = TrainingConfig(source=source, engine=EngineConfig(horizons=(1, 7), season_length=7, window_length=14))
    coordinator = ParallelTrainingCoordinator(config, **kwargs)
    variables = [f"s{i:04d}" for i in range(60)]
    coordinator.prepare_training_batches(variables, START, END, batch_size_days=90, variables_per_batch=20)
    return coordinator


def test_local_cluster_summary_equals_the_in_process_summary(client: Client, synthetic: DataSource) -> None:
    coordinator = make_coordinator(synthetic, client=client)
    seen: list[dict[str, Any]] = []
    summary = coordinator.start_training(progress_callback=seen.append)
    assert coordinator.state == "completed"
    assert summary["batches"]["succeeded"] == summary["batches"]["total"] == len(coordinator.batches)
    assert seen[-1]["completed"] == seen[-1]["total"] and seen[-1]["completed_percentage"] == 100.0
    assert_same_results(summary["results"], in_process_results(make_coordinator(synthetic)))


def test_a_run_builds_each_variables_results_once_its_last_batch_is_merged(
    client: Client, synthetic: DataSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The summary's results are built while the workers compute (SummaryAccumulator.settle), each variable's as
    # soon as none of its batches is left, so that after the last batch there is next to nothing left to build.
    coordinator = make_coordinator(synthetic, client=client)
    per_variable = Counter(name for batch in coordinator.batches for name in batch.variables)
    merged: Counter[str] = Counter()
    settled_early: list[str] = []
    settling: list[SummaryAccumulator] = []
    original_add, original_settle = SummaryAccumulator.add, SummaryAccumulator.settle

    def add(self: SummaryAccumulator, result: BatchResult) -> None:
        merged.update(result.variables)
        original_add(self, result)

    def settle(self: SummaryAccumulator, variables: Iterable[str]) -> None:
        chosen = list(variables)
        settled_early.extend(name for name in chosen if merged[name] < per_variable[name])
        settling.append(self)
        original_settle(self, chosen)

    monkeypatch.setattr(SummaryAccumulator, "add", add)
    monkeypatch.setattr(SummaryAccumulator, "settle", settle)
    built = coordinator.run_training()
    assert settled_early == [], "a variable was settled before all its batches were merged"
    assert settling, "nothing was settled during the run"
    assert settling[-1].unsettled() == [], "every variable's results were built before the run ended"
    assert_same_results([row.to_dict() for row in built.results], in_process_results(make_coordinator(synthetic)))


def test_killing_a_worker_mid_run_still_gives_the_identical_summary(synthetic: DataSource) -> None:
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        victim = next(iter(pids.values()))
        coordinator = make_coordinator(synthetic, client=client)
        killed_at: list[int] = []

        def kill_once(progress: dict[str, Any]) -> None:
            if not killed_at and progress["completed"] >= 3:
                killed_at.append(progress["completed"])
                os.kill(victim, signal.SIGKILL)

        summary = coordinator.start_training(progress_callback=kill_once)
        assert killed_at and killed_at[0] < len(coordinator.batches), "the worker must die mid-run"
        assert victim not in client.run(os.getpid).values()
    assert coordinator.state == "completed"
    assert summary["batches"]["failed"] == 0
    assert_same_results(summary["results"], in_process_results(make_coordinator(synthetic)))


def test_stop_training_cancels_pending_batches_and_keeps_what_finished(synthetic: DataSource) -> None:
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        coordinator = make_coordinator(synthetic, client=client)

        def stop_after_two(progress: dict[str, Any]) -> None:
            if progress["completed"] == 2:
                threading.Thread(target=coordinator.stop_training).start()

        summary = coordinator.start_training(progress_callback=stop_after_two)
        assert coordinator.state == "stopped"
        assert 2 <= summary["batches"]["succeeded"] < summary["batches"]["total"]
        # Nothing of this run is left on the cluster. Cancelling is a message to the scheduler, and a task a
        # worker is executing finishes first, so give it a few seconds (a batch here takes milliseconds).
        deadline = time.monotonic() + 10
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(client.processing().values())
        assert not any(key.startswith("retrodiction-batch") for key in client.who_has())


def test_a_resumed_run_computes_only_the_missing_batches(synthetic: DataSource, tmp_path: Path) -> None:
    store = str(tmp_path / "checkpoint")
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        first = make_coordinator(synthetic, client=client, checkpoint=FsspecCheckpoint(store))

        def stop_after_five(progress: dict[str, Any]) -> None:
            if progress["completed"] == 5:
                threading.Thread(target=first.stop_training).start()

        first.start_training(progress_callback=stop_after_five)
        saved = len(FsspecCheckpoint(store).load())
        assert 5 <= saved < len(first.batches)

        second = make_coordinator(synthetic, client=client, checkpoint=FsspecCheckpoint(store))
        progress: list[dict[str, Any]] = []
        summary = second.start_training(progress_callback=progress.append)
    assert progress[0]["resumed"] == saved
    computed_now = progress[-1]["completed"] - progress[-1]["resumed"]
    assert computed_now == len(second.batches) - saved
    assert summary["batches"]["succeeded"] == len(second.batches)
    assert_same_results(summary["results"], in_process_results(make_coordinator(synthetic)))


def test_the_bundled_example_runs_through_the_cli_on_local_worker_processes(tmp_path: Path) -> None:
    output, report = tmp_path / "summary.json", tmp_path / "report.html"
    args = ["--workers", "2", "--output", str(output), "--report", str(report), "--quiet"]
    assert main(["train", str(REPO / "examples/training-macrodata.yaml"), *args]) == 0
    summary = json.loads(output.read_text())
    assert summary["batches"]["failed"] == 0
    assert summary["batches"]["succeeded"] == summary["batches"]["total"] > 1
    results = summary["results"]
    assert len(results) == 12 * 5 * 2
    # 1990Q1 .. 2009Q3: 79 quarterly targets per series, all scored or counted as skipped.
    assert {row["n"] + row["skipped"] for row in results} == {79}
    assert all(row["n"] > 0 and 0 < row["trust"]["mean"] < 1 for row in results)
    assert "<svg" in report.read_text()


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("training-*.yaml")))
def test_every_example_runs_as_it_is(example: str, tmp_path: Path) -> None:
    output = tmp_path / "summary.json"
    assert main(["train", str(REPO / "examples" / example), "--workers", "1", "--output", str(output), "-q"]) == 0
    summary = json.loads(output.read_text())
    assert summary["batches"]["succeeded"] == summary["batches"]["total"]
    assert all(row["n"] > 0 for row in summary["results"])


def test_missing_output_folders_are_created(tmp_path: Path) -> None:
    output = tmp_path / "new" / "folder" / "s.json"
    example = str(REPO / "examples/training-co2.yaml")
    assert main(["train", example, "--quiet", "--workers", "1", "--output", str(output)]) == 0
    assert output.is_file()


class ComputeCounter(SchedulerPlugin):
    """Counts, on the scheduler, how often each task's result was computed."""

    name = "compute-counter"

    def __init__(self) -> None:
        self.computed: dict[str, int] = {}

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish == "memory" and start == "processing":
            self.computed[str(key)] = self.computed.get(str(key), 0) + 1


def test_a_checkpoint_holding_part_of_a_task_group_merges_only_the_batches_it_lacks(
    client: Client, synthetic: DataSource
) -> None:
    # Light batches travel in groups of up to 16 (execution/grouping.py); a driver killed while it recorded one
    # group's results leaves a checkpoint holding some of them. The next coordinator sends the whole group again
    # and merges only the rest, never a batch twice.
    full = make_coordinator(synthetic, client=client, checkpoint=MemoryCheckpoint())
    full.start_training()
    assert full.checkpoint is not None
    groups = group_batches(full.batches, 10)  # five models x two horizons a target
    assert any(len(group.batches) > 1 for group in groups)
    partial = MemoryCheckpoint()
    kept = sorted(full.checkpoint.load().items())[::2]
    for _, result in kept:
        partial.save(result)
    again = make_coordinator(synthetic, client=client, checkpoint=partial)
    progress: list[dict[str, Any]] = []
    summary = again.start_training(progress_callback=progress.append)
    assert again.state == "completed"
    assert progress[0]["resumed"] == len(kept)
    assert progress[-1]["completed"] == len(again.batches)
    assert_same_results(summary["results"], in_process_results(make_coordinator(synthetic)))


def test_a_detached_run_is_taken_over_without_computing_any_batch_twice(synthetic: DataSource) -> None:
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(ComputeCounter())
        # The first coordinator's client goes away with it, as an operator's does when the process dies.
        with Client(cluster.scheduler_address) as doomed:
            first = make_coordinator(synthetic, client=doomed, run_uid="takeover", publish_name="run-takeover")

            def detach_after_three(progress: dict[str, Any]) -> None:
                if progress["completed"] == 3:
                    first.stop_training(cancel=False)

            first.start_training(progress_callback=detach_after_three)
        assert first.state == "detached"
        assert 3 <= first.get_results_summary()["batches"]["succeeded"] < len(first.batches)
        # A new client, as a restarted operator would have: the first one's futures are gone with it.
        with Client(cluster.scheduler_address) as again:
            second = make_coordinator(synthetic, client=again, run_uid="takeover", publish_name="run-takeover")
            summary = second.start_training()
            assert second.state == "completed"
            assert "run-takeover" not in again.list_datasets()
        counts = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins["compute-counter"].computed)
    # A task scores one batch or a group of them (execution/grouping.py); every batch is in exactly one.
    assert sum(batches_in_key(key) for key in counts) == len(second.batches)
    assert set(counts.values()) == {1}, "a batch was computed more than once"
    assert_same_results(summary["results"], in_process_results(make_coordinator(synthetic)))


def test_a_stop_requested_before_the_run_starts_submits_nothing(synthetic: DataSource) -> None:
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        coordinator = make_coordinator(synthetic, client=client)
        coordinator.stop_training()
        summary = coordinator.start_training()
        assert coordinator.state == "stopped"
        assert summary["batches"]["succeeded"] == 0
        assert not any(key.startswith("retrodiction-batch") for key in client.who_has())
        # The stop applied to that call only: the next one runs everything.
        coordinator.start_training()
        assert coordinator.state == "completed"


@pytest.mark.parametrize("verbose", [False, True])
def test_local_workers_run_the_statistical_profiler_only_when_verbose(verbose: bool) -> None:
    # It samples the task thread's stack every 10 ms, contending for the GIL with Python-heavy custom models.
    with local_cluster_client(1, verbose=verbose) as client:
        callbacks = client.run(lambda dask_worker: sorted(dask_worker.periodic_callbacks))
    (names,) = callbacks.values()
    assert ("profile" in names) is verbose, names


@pytest.fixture(scope="module")
def five_walks(tmp_path_factory: pytest.TempPathFactory) -> DataSource:
    """Five daily series over 2000-01-01 .. 2001-05-14: small enough that the run takes a second."""
    path = tmp_path_factory.mktemp("five") / "walks.parquet"
    write_dataset(make_random_walks(5, 500, seed=11), str(path), format="parquet")
    return DataSource(str(path))


def test_the_coordinator_dispatches_and_scores_every_planned_batch_exactly_once(
    client: Client, five_walks: DataSource
) -> None:
    # The unit tiers score batches through a helper that bypasses the coordinator's bookkeeping (tests/results.py):
    # this is where a batch wrongly taken as done, sent twice or merged twice shows.
    engine = EngineConfig(horizons=(1, 7), season_length=7, window_length=14)
    coordinator = ParallelTrainingCoordinator(TrainingConfig(source=five_walks, engine=engine), client=client)
    variables = [f"s{i:04d}" for i in range(5)]
    start, end = datetime(2000, 3, 1, tzinfo=UTC), datetime(2001, 3, 1, tzinfo=UTC)
    coordinator.prepare_training_batches(variables, start, end, batch_size_days=60, variables_per_batch=2)
    plan = coordinator.plan
    assert plan is not None
    # 365 daily targets; six 60-day slices and a 5-day one, x the variable groups (2, 2, 1).
    assert (plan.targets, len(coordinator.batches)) == (365, 7 * 3)
    planned = sorted(batch.batch_id for batch in coordinator.batches)
    assert all(not batch.processed and batch.results is None for batch in coordinator.batches)
    client.register_plugin(ComputeCounter())
    progress: list[dict[str, Any]] = []
    merged: list[str] = []
    summary = coordinator.start_training(
        progress_callback=progress.append, result_callback=lambda result: merged.append(result.batch_id)
    )

    assert coordinator.state == "completed"
    assert sorted(merged) == planned, "every planned batch merged exactly once"
    total = len(planned)
    assert {key: summary["batches"][key] for key in ("total", "succeeded", "failed")} == {
        "total": total,
        "succeeded": total,
        "failed": 0,
    }
    workers = {f"{host}:{pid}" for host, pid in client.run(lambda: (socket.gethostname(), os.getpid())).values()}
    for batch in coordinator.batches:
        assert (batch.processed, batch.error) == (True, None), batch.batch_id
        assert batch.results is not None
        assert (batch.results["targets"], batch.results["rows_loaded"]) == (batch.n_targets, batch.n_rows)
        assert batch.results["worker"] in workers
    # The first snapshot before any batch, then one per batch, up to the totals.
    assert [p["completed"] for p in progress] == list(range(total + 1))
    assert {key: progress[-1][key] for key in ("total", "succeeded", "failed", "resumed", "progress")} == {
        "total": total,
        "succeeded": total,
        "failed": 0,
        "resumed": 0,
        "progress": f"{total}/{total}",
    }
    assert progress[-1]["completed_percentage"] == 100.0
    # Each target of each variable, scored or skipped, once per model and horizon.
    results = summary["results"]
    assert len(results) == len(variables) * len(engine.models) * len(engine.horizons)
    assert {row["n"] + row["skipped"] for row in results} == {plan.targets}
    assert sum(row["n"] + row["skipped"] for row in results) == (
        plan.targets * len(variables) * len(engine.models) * len(engine.horizons)
    )
    # On the scheduler: each task of this run computed once, and every batch in exactly one task.
    counts = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins["compute-counter"].computed)
    ours = {key: n for key, n in counts.items() if key.startswith(f"retrodiction-batch-{coordinator.run_uid}-")}
    assert set(ours.values()) == {1}
    assert sum(batches_in_key(key) for key in ours) == total
