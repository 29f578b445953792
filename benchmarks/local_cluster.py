"""End to end on a Dask LocalCluster: per-batch overhead, the speed-up of 2 worker processes over 1, and the
throughput of `retrodiction train` at scale.

Three measurements, each against a baseline taken in the same run:

1. Per-batch overhead. Many near-empty batches (one variable, a few targets each) run through the coordinator on
   a 1-worker LocalCluster, against the same batches run by a plain in-process loop (`run_batch`, no Dask).
   overhead per batch = (cluster wall time - in-process wall time) / batches.
2. Scaling. A CPU-bound run (synthetic daily random walks, heavy SES) on a 2-worker LocalCluster against the same
   run on a 1-worker LocalCluster. Target: >= 1.6x on a 2-core machine.
3. Throughput at scale. `retrodiction train --workers 2` as people run it (a fresh process, start-up, summary and
   table included) on 2,000 daily series x 20 years, the last 19 scored by the five models at horizons 1, 7 and 28
   (208M scored forecasts, in batches of a year and 50 series, the spec's default, then 500), against the
   engine's single-core rate: `score_targets` on the whole panel in this process. The two take turns, round after
   round, and each side's figure is its median. Target: at least half that rate per worker.

Cluster start-up is excluded from the timings of 1 and 2 (clusters are started before the clock runs).

    python -m benchmarks.local_cluster [--series 400] [--points 6000] [--batch-days 365] [--per-batch 100]
        [--scale-series 2000] [--scale-points 7305] [--only overhead|scaling|scale] [--quick]   # from the root
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from benchmarks.training_runs import timed_train, write_manifest, write_panel
from distributed import Client, LocalCluster

from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data import DataSource, make_random_walks, write_dataset
from retrodiction.engine import EngineConfig, score_targets
from retrodiction.execution.task import run_batch


@dataclass(frozen=True)
class Plan:
    """A training as the benchmark plans it: the data and engine, which variables, the window, the batching."""

    config: TrainingConfig
    variables: list[str]
    start: datetime
    end: datetime
    days: int
    per_batch: int


@dataclass(frozen=True)
class Sizes:
    """The scaling run's size (from the command line) and how many times each configuration runs."""

    series: int
    points: int
    batch_days: int
    per_batch: int
    repeats: int


def _coordinator(plan: Plan, client: Client | None = None) -> ParallelTrainingCoordinator:
    coordinator = ParallelTrainingCoordinator(plan.config, client=client)
    coordinator.prepare_training_batches(
        plan.variables, plan.start, plan.end, batch_size_days=plan.days, variables_per_batch=plan.per_batch
    )
    return coordinator


def _timed_run(coordinator: ParallelTrainingCoordinator) -> float:
    began = time.perf_counter()
    coordinator.start_training()
    elapsed = time.perf_counter() - began
    if coordinator.state != "completed":
        raise SystemExit(f"run ended {coordinator.state}: {coordinator.failure_reason}")
    return elapsed


def per_batch_overhead(client: Client) -> None:
    config = TrainingConfig(
        source=DataSource("builtin://macrodata"),
        engine=EngineConfig(models=("naive", "drift"), horizons=(1,)),
    )
    variables = ["realgdp", "cpi", "unemp", "infl"]
    start, end = datetime(1960, 1, 1, tzinfo=UTC), datetime(2009, 10, 1, tzinfo=UTC)
    plan = Plan(config, variables, start, end, days=91, per_batch=1)

    local = _coordinator(plan)
    began = time.perf_counter()
    for task in local.tasks():
        run_batch(task)
    in_process = time.perf_counter() - began

    # The first run warms the workers' imports and CSV cache; the best of the rest is the steady-state cost.
    runs = [_timed_run(_coordinator(plan, client=client)) for _ in range(4)]
    on_cluster = min(runs[1:])
    batches = len(local.batches)
    overhead_ms = 1000 * (on_cluster - in_process) / batches
    print(f"per-batch overhead: {batches} near-empty batches (1 variable, ~1 target each)")
    print(f"  baseline in-process loop (no Dask): {in_process:.3f} s = {1000 * in_process / batches:.2f} ms/batch")
    print(f"  LocalCluster, 1 worker process:     {on_cluster:.3f} s = {1000 * on_cluster / batches:.2f} ms/batch")
    print(
        f"RESULT per-batch overhead of Dask: {overhead_ms:.2f} ms/batch "
        f"(cluster/in-process wall ratio {on_cluster / in_process:.1f}x)"
    )


def scaling(sizes: Sizes, folder: Path) -> None:
    series, points, repeats = sizes.series, sizes.points, sizes.repeats
    path = folder / "walks.parquet"
    write_dataset(make_random_walks(series, points, seed=3), str(path), format="parquet")
    # alpha 0.02 gives SES about 1000 terms: a CPU-bound batch, as in a large real retraining.
    config = TrainingConfig(
        source=DataSource(str(path)),
        engine=EngineConfig(horizons=(1, 7, 28), season_length=7, window_length=28, ses_alpha=0.02),
    )
    variables = [f"s{i:04d}" for i in range(series)]
    # The first year is history only; every later day of the data is a target.
    start = datetime(2001, 1, 1, tzinfo=UTC)
    end = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(days=points)
    plan = Plan(config, variables, start, end, days=sizes.batch_days, per_batch=sizes.per_batch)
    times: dict[int, float] = {}
    batches = 0
    for workers in (1, 2):
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
            Client(cluster) as client,
        ):
            client.run(lambda: __import__("retrodiction.execution.task"))
            # Best of `repeats`: the machine is shared, and the minimum is the least disturbed measurement.
            runs = []
            for _ in range(repeats):
                coordinator = _coordinator(plan, client=client)
                batches = len(coordinator.batches)
                runs.append(_timed_run(coordinator))
            times[workers] = min(runs)
    print(
        f"scaling: {series} series x {points} daily points, {batches} CPU-bound batches "
        f"({sizes.batch_days} days x {sizes.per_batch} series each)"
    )
    print(f"  baseline LocalCluster, 1 worker process: {times[1]:.2f} s (best of {repeats})")
    print(f"  LocalCluster, 2 worker processes:        {times[2]:.2f} s (best of {repeats})")
    print(f"RESULT speed-up of 2 workers over 1: {times[1] / times[2]:.2f}x (target >= 1.6x)")


# Batch layouts of the throughput run: the spec's default (50 series a batch, 800 batches of about 7 ms of scoring
# each, where Dask's own cost per batch weighs), and batches of 500 series (80 batches of about 70 ms).
SCALE_LAYOUTS = (50, 500)
MEASUREMENTS = ("overhead", "scaling", "scale")


def throughput_at_scale(series: int, points: int, folder: Path, repeats: int) -> None:
    panel = write_panel(folder, series, points, seed=5)
    first_target, workers = 366, 2  # the first year is history only
    engine = EngineConfig(horizons=(1, 7, 28), season_length=7, window_length=28)
    retrodiction = {"horizons": list(engine.horizons), "seasonLength": 7, "windowLength": 28}
    scored = series * (points - first_target) * len(engine.models) * len(engine.horizons)
    values = _panel_values(panel.path)
    manifests = {
        per_batch: write_manifest(
            panel, first_target, retrodiction, name=f"scale-{per_batch}", variables_per_batch=per_batch
        )
        for per_batch in SCALE_LAYOUTS
    }
    # The engine and the commands take turns, one round after another: the machine is shared, and its speed drifts
    # by 20% over minutes, so a slow spell weighs on both sides alike; each side's figure is its median.
    engine_runs: list[float] = []
    command_runs: dict[int, list[float]] = {per_batch: [] for per_batch in SCALE_LAYOUTS}
    for _ in range(repeats):
        engine_runs.append(_engine_seconds(values, first_target, engine))
        for per_batch, manifest in manifests.items():
            command_runs[per_batch].append(timed_train(manifest, "--workers", str(workers)))
    rate = scored / statistics.median(engine_runs)
    target = 0.5 * rate * workers
    print(
        f"throughput at scale: {series} series x {points} days, the last {points - first_target} scored by 5 models "
        f"x 3 horizons: {scored / 1e6:.0f}M scored forecasts; {repeats} rounds, each side's median"
    )
    print(
        f"  baseline engine score_targets, one core, in-process: {scored / rate:.2f} s "
        f"({min(engine_runs):.2f}-{max(engine_runs):.2f}) = {rate / 1e6:.1f}M/s"
    )
    for per_batch, runs in command_runs.items():
        throughput = scored / statistics.median(runs)
        print(
            f"  retrodiction train --workers {workers}, {per_batch} series a batch, the whole command: "
            f"{scored / throughput:.2f} s ({min(runs):.2f}-{max(runs):.2f}) = {throughput / 1e6:.1f}M/s"
        )
        print(
            f"RESULT end-to-end throughput at scale, {per_batch} series a batch: {throughput / 1e6:.1f}M/s = "
            f"{throughput / target:.2f} of the target (half the engine's single-core rate x {workers} workers = "
            f"{target / 1e6:.1f}M/s)"
        )


def _panel_values(path: Path) -> np.ndarray:
    # Rows in time order and C order, as a batch's frame has them (pandas hands back a column-major array).
    return np.ascontiguousarray(pd.read_parquet(path).drop(columns="date").to_numpy(np.float64))


def _engine_seconds(values: np.ndarray, first_target: int, engine: EngineConfig) -> float:
    """Seconds of score_targets on the whole panel in this process."""
    began = time.perf_counter()
    score_targets(values, first_target, engine)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=400)
    parser.add_argument("--points", type=int, default=6000)
    parser.add_argument("--batch-days", type=int, default=365)
    parser.add_argument("--per-batch", type=int, default=100, help="variables per batch")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per configuration: the best (scaling) or rounds (scale)"
    )
    parser.add_argument("--scale-series", type=int, default=2000, help="series of the throughput at scale")
    parser.add_argument("--scale-points", type=int, default=7305, help="days of the throughput at scale")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke check")
    parser.add_argument("--only", choices=MEASUREMENTS, help="run this measurement alone")
    args = parser.parse_args()
    if args.quick:
        args.series, args.points, args.scale_series, args.scale_points = 40, 1500, 100, 1500
    chosen = [args.only] if args.only else list(MEASUREMENTS)
    if "overhead" in chosen:
        with (
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
            Client(cluster) as client,
        ):
            per_batch_overhead(client)
    with tempfile.TemporaryDirectory() as folder:
        if "scaling" in chosen:
            scaling(Sizes(args.series, args.points, args.batch_days, args.per_batch, args.repeats), Path(folder))
        if "scale" in chosen:
            throughput_at_scale(args.scale_series, args.scale_points, Path(folder), args.repeats)


if __name__ == "__main__":
    main()
