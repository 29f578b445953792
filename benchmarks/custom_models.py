"""Custom models: `retrodiction train` scoring statsforecast's AutoETS against statsforecast's own cross_validation,
on one core, on two, and through Fugue on a Dask cluster of the same shape, in one run on the same panel.

The panel: --series monthly series of --points months from 2000-01 (default 200 x 60, five years; synthetic and
seeded: a level, a trend, a yearly season and noise, all positive), as Parquet. The last 36 months are scored as
one-step forecasts by AutoETS(season_length=12); the first origin thus has 24 months of history. statsforecast
2.1.1's runs are its `cross_validation(h=1, step_size=1, n_windows=36)` call alone (the frame in memory, the models
imported and called once beforehand; 2.1.1's models are compiled C++, no numba compiles at run time): refit=True
with n_jobs=1 and n_jobs=2, refit=True on a Dask DataFrame (Fugue's backend, the frame persisted on the workers
first) on a LocalCluster of 2 worker processes of one thread each, started and warmed up (statsforecast imported
and AutoETS run in each worker, one small Fugue call) before the clock runs, and refit=4 with n_jobs=2. Ours are
the installed command as a person runs it (a fresh process, its start-up and imports, statsforecast's included, the
data, a local cluster of worker processes (--processes) that each import statsforecast, the summary):
`retrodiction train` with `customModels: [AutoETS(season_length=12)]`, `models: []`, on 1 and 2 workers refitting
at every origin, and on 2 workers with `refitEvery: 4`; batches of a year x --per-batch series (10: 120 fits,
about 6 s of AutoETS each). The runs alternate between the two sides, round after round (--repeats), so that a
disturbance of the machine hits both.

Targets, on the median of the rounds (speed ratio = the baseline's seconds / ours):
  1 worker vs statsforecast n_jobs=1:                    >= 0.9 (within 10%)
  2 workers vs 1 worker:                                 >= 1.8
  2 workers vs statsforecast through Fugue, 2 workers:   >= 1.0
  refitEvery 4 vs refit at every origin (2 workers):     >= 3.0
Our MAE per series (the summary's results) must equal statsforecast's cross_validation MAE per series to 1e-9
(relative), refit at every origin and every 4th (to 1e-5 against Fugue's, whose output columns are float32).
Exits 1 when they differ or a target is not met (with --quick, a smoke check too small for the targets, only when
they differ), 2 on bad options.

    python -m benchmarks.custom_models [--series 200] [--points 60] [--per-batch 10] [--repeats 1]
        [--only single scaling fugue refit] [--quick]   # from the repository root
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import statsforecast
from benchmarks.cli_startup import version_seconds
from benchmarks.training_runs import Panel, run_train, write_manifest
from distributed import wait
from statsforecast import StatsForecast
from statsforecast.models import AutoETS

from retrodiction.data import write_dataset
from retrodiction.execution.clusters import local_cluster_client

SEASON_LENGTH = 12
WINDOWS = 36  # the last 36 months are scored
HORIZON = 1
REFIT_EVERY = 4
FREQ = "MS"  # statsforecast's frequency of the panel's dates: the first day of each month
FIRST_MONTH = date(2000, 1, 1)
MODEL = "ets"  # our name of the custom model; statsforecast's output column is COLUMN
COLUMN = "AutoETS"
RELATIVE_TOLERANCE = 1e-9
# statsforecast's Fugue backend declares its output columns float32 (distributed/fugue.py, _get_output_schema): its
# MAE can agree to float32's precision only.
FUGUE_TOLERANCE = 1e-5
WORKERS = 2
QUICK_SERIES = 20


@dataclass(frozen=True)
class MonthlyPanel(Panel):
    """`series` monthly series (s0000, s0001, ...) of `points` months from FIRST_MONTH, as Parquet at `path`."""

    def day(self, index: int) -> date:
        """The first day of month `index` (0: FIRST_MONTH)."""
        months = FIRST_MONTH.month - 1 + index
        return date(FIRST_MONTH.year + months // 12, months % 12 + 1, 1)


def monthly_frame(series: int, points: int, *, seed: int = 0) -> pd.DataFrame:
    """A `date` column (month starts from FIRST_MONTH) and `series` columns s0000, s0001, ...: a level, a yearly
    trend, a yearly season of random phase and multiplicative noise, floored at 1 (never reached: every value stays
    above 0.3 x its level); the same seed gives the same frame."""
    rng = np.random.default_rng(seed)
    months = np.arange(points, dtype=np.float64)[:, None]
    level = rng.uniform(50.0, 150.0, series)
    trend = rng.uniform(-0.02, 0.08, series) / 12.0  # a share of the level a month
    amplitude = rng.uniform(0.05, 0.3, series)
    phase = rng.uniform(0.0, 2.0 * np.pi, series)
    noise = rng.uniform(0.01, 0.05, series) * rng.standard_normal((points, series))
    shape = 1.0 + trend * months + amplitude * np.sin(2.0 * np.pi * months / SEASON_LENGTH + phase) + noise
    values = np.maximum(level * shape, 1.0)
    frame = pd.DataFrame(values, columns=[f"s{i:04d}" for i in range(series)])
    frame.insert(0, "date", pd.date_range(start=FIRST_MONTH.isoformat(), periods=points, freq=FREQ))
    return frame


def long_frame(wide: pd.DataFrame) -> pd.DataFrame:
    """statsforecast's layout of a wide frame: unique_id, ds, y."""
    long = wide.melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    return long[["unique_id", "ds", "y"]]


def write_monthly_panel(folder: Path, series: int, points: int, *, seed: int = 0) -> MonthlyPanel:
    path = folder / f"monthly-{series}x{points}.parquet"
    write_dataset(monthly_frame(series, points, seed=seed), str(path), format="parquet")
    return MonthlyPanel(path, series, points)


def retrodiction_spec(refit_every: int | None) -> dict[str, object]:
    """spec.retrodiction: AutoETS(season_length=12) alone, one-step, refitted every `refit_every` origins (None:
    at every origin)."""
    model: dict[str, object] = {
        "name": MODEL,
        "statsforecast": {"model": COLUMN, "params": {"season_length": SEASON_LENGTH}},
    }
    if refit_every is not None:
        model["refitEvery"] = refit_every
    return {"models": [], "horizons": [HORIZON], "customModels": [model]}


def write_panel_manifest(
    panel: MonthlyPanel, refit_every: int | None, *, per_batch: int, windows: int = WINDOWS
) -> Path:
    """A RetrodictionTraining scoring the panel's last `windows` months: its window starts at the month after
    statsforecast's first cutoff (row points - windows - 1), so the run's origin 0 is that cutoff, and refitEvery k
    refits where cross_validation(refit=k) does."""
    name = f"ets-refit{refit_every or 1}"
    return write_manifest(
        panel, panel.points - windows, retrodiction_spec(refit_every), name=name, variables_per_batch=per_batch
    )


# ---- statsforecast's side


def statsforecast_cv(
    frame: Any, *, n_jobs: int = 1, refit: bool | int = True, windows: int = WINDOWS, model: Any = None
) -> pd.DataFrame:
    """statsforecast's cross_validation of AutoETS(12) (or `model`), one step ahead from each of the last `windows`
    origins, as a pandas frame (a Dask frame's result is computed)."""
    models = [model if model is not None else AutoETS(season_length=SEASON_LENGTH)]
    cv: Any = StatsForecast(models=models, freq=FREQ, n_jobs=n_jobs).cross_validation(
        df=frame, h=HORIZON, n_windows=windows, step_size=1, refit=refit
    )
    computed = cv.compute() if hasattr(cv, "compute") else cv
    return pd.DataFrame(computed)


def warm_statsforecast() -> None:
    """Import statsforecast's models and make AutoETS's first fits, forecasts and forwards (numba-compiled models,
    if any, compile here), so that no timed run pays for them."""
    frame = long_frame(monthly_frame(1, 30, seed=99))
    statsforecast_cv(frame, refit=True, windows=2)
    statsforecast_cv(frame, refit=2, windows=2)


def import_seconds() -> float:
    """A fresh interpreter importing statsforecast's models: what our command and each of its worker processes pay
    once (statsforecast's side imported them before the clock ran)."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import statsforecast.models"], check=True, capture_output=True)
    return time.perf_counter() - began


def bytecode_note() -> str | None:
    """A note when Python writes no bytecode cache and statsforecast has none: every fresh process then compiles
    the modules it imports, seconds more for each of our processes."""
    cached = Path(importlib.util.cache_from_source(statsforecast.__file__ or "")).exists()
    if not sys.flags.dont_write_bytecode or cached:
        return None
    return (
        "note: PYTHONDONTWRITEBYTECODE is set and the environment holds no bytecode cache: each of our processes "
        "compiles what it imports first; `python -m compileall -q .venv/lib` once makes the figures those of an "
        "ordinary installation"
    )


def mae_per_series(cv: pd.DataFrame) -> dict[str, float]:
    errors = (cv["y"].astype(np.float64) - cv[COLUMN].astype(np.float64)).abs()
    means = errors.groupby(cv["unique_id"].astype(str)).mean()
    return {str(series): float(value) for series, value in means.items()}


# ---- our side


@dataclass(frozen=True)
class Summary:
    """What the benchmark reads of a summary: MAE and targets scored per series, batches, the model's seconds."""

    mae: dict[str, float]
    scored: dict[str, int]
    batches: int
    model_seconds: float

    @classmethod
    def read(cls, path: Path) -> Summary:
        document = json.loads(path.read_text())
        rows = [r for r in document["results"] if r["model"] == MODEL and r["horizon"] == HORIZON]
        costs = [m["seconds"] for m in document.get("models", []) if m["model"] == MODEL]
        return cls(
            mae={r["variable"]: float("nan") if r["mae"] is None else float(r["mae"]) for r in rows},
            scored={r["variable"]: int(r["n"]) for r in rows},
            batches=int(document["batches"]["total"]),
            model_seconds=float(sum(costs)),
        )


WHERE = re.compile(r"batches on a local Dask cluster of (\d+) worker process")


def ran_on_processes(stderr: str) -> int | None:
    """Worker processes the command's first note says the batches ran on; None when they ran elsewhere (threads)."""
    found = WHERE.search(stderr)
    return int(found.group(1)) if found else None


def train(manifest: Path, workers: int) -> tuple[float, Summary]:
    """`retrodiction train MANIFEST --workers N --processes` timed, and its summary; exits when the batches did not
    run on `workers` worker processes."""
    seconds, stderr = run_train(manifest, "--workers", str(workers), "--processes")
    processes = ran_on_processes(stderr)
    if processes != workers:
        raise SystemExit(f"retrodiction train ran on {processes} worker processes, not {workers}:\n{stderr}")
    return seconds, Summary.read(manifest.with_suffix(".summary.json"))


def largest_difference(ours: Summary, theirs: Mapping[str, float], windows: int = WINDOWS) -> float:
    """Largest relative difference between our MAE per series and statsforecast's; inf when a series is missing, was
    not scored at every origin, or either MAE is not a number."""
    if not theirs or set(ours.mae) != set(theirs) or any(n != windows for n in ours.scored.values()):
        return float("inf")
    mine = np.array([ours.mae[series] for series in theirs])
    expected = np.array(list(theirs.values()))
    relative = np.abs(mine - expected) / np.maximum(np.abs(mine), 1e-12)
    return float(relative.max()) if np.isfinite(relative).all() else float("inf")


# ---- the runs and the targets


@dataclass(frozen=True)
class Run:
    key: str
    label: str
    refit: bool | int  # statsforecast's refit: True (every origin) or k


RUNS = (
    Run("sf-1", f"statsforecast {statsforecast.__version__} cross_validation, n_jobs=1", True),
    Run("ours-1", "retrodiction train, 1 worker process", True),
    Run("sf-2", "statsforecast cross_validation, n_jobs=2", True),
    Run("ours-2", f"retrodiction train, {WORKERS} worker processes", True),
    Run("fugue-2", f"statsforecast on Dask through Fugue, {WORKERS} worker processes", True),
    Run("ours-2-refit4", f"retrodiction train refitEvery {REFIT_EVERY}, {WORKERS} worker processes", REFIT_EVERY),
    Run("sf-2-refit4", f"statsforecast cross_validation refit={REFIT_EVERY}, n_jobs=2", REFIT_EVERY),
)
RUN_BY_KEY = {run.key: run for run in RUNS}


@dataclass(frozen=True)
class Target:
    """`baseline`'s seconds / `ours`'s seconds must be at least `minimum`; `also` are runs printed beside them."""

    key: str
    text: str
    baseline: str
    ours: str
    minimum: float
    also: tuple[str, ...] = ()

    @property
    def runs(self) -> tuple[str, ...]:
        return (self.baseline, self.ours, *self.also)


TARGETS = (
    Target("single", "1 worker vs statsforecast n_jobs=1", "sf-1", "ours-1", 0.9),
    Target("scaling", f"{WORKERS} workers vs 1 worker", "ours-1", "ours-2", 1.8),
    Target("fugue", f"{WORKERS} workers vs statsforecast through Fugue", "fugue-2", "ours-2", 1.0, ("sf-2",)),
    Target(
        "refit", f"refitEvery {REFIT_EVERY} vs refit at every origin", "ours-2", "ours-2-refit4", 3.0, ("sf-2-refit4",)
    ),
)


def chosen_runs(targets: Iterable[str]) -> list[Run]:
    """The runs the chosen targets need, in RUNS's order (which alternates the two sides)."""
    keys = set(targets)
    wanted = {key for target in TARGETS if target.key in keys for key in target.runs}
    return [run for run in RUNS if run.key in wanted]


@dataclass(frozen=True)
class Verdict:
    target: Target
    ratio: float

    @property
    def met(self) -> bool:
        return self.ratio >= self.target.minimum

    def line(self) -> str:
        status = "met" if self.met else "NOT met"
        minimum = self.target.minimum
        return f"TARGET {self.target.text}: {self.ratio:.2f}x (target >= {minimum:g}x): {status}"


def evaluate(seconds: Mapping[str, Sequence[float]]) -> list[Verdict]:
    """Each target whose two runs were measured, on the median of their rounds."""
    return [
        Verdict(t, statistics.median(seconds[t.baseline]) / statistics.median(seconds[t.ours]))
        for t in TARGETS
        if seconds.get(t.baseline) and seconds.get(t.ours)
    ]


# ---- running them


@dataclass
class Bench:
    """The panel in statsforecast's layout, our manifests (by refit), and what the runs measured."""

    frame: pd.DataFrame
    manifests: dict[bool | int, Path]
    seconds: dict[str, list[float]] = field(default_factory=dict)
    theirs: dict[str, dict[str, float]] = field(default_factory=dict)  # statsforecast's MAE per series, by run
    ours: dict[str, Summary] = field(default_factory=dict)
    warm: bool = False

    def measure(self, run: Run) -> float:
        kind, _, rest = run.key.partition("-")
        workers = int(rest.split("-")[0])
        if kind == "ours":
            seconds, self.ours[run.key] = train(self.manifests[run.refit], workers)
        elif kind == "fugue":
            seconds, cv = fugue_seconds(self.frame, workers)
            self.theirs[run.key] = mae_per_series(cv)
        else:
            if not self.warm:
                warm_statsforecast()
                self.warm = True
            began = time.perf_counter()
            cv = statsforecast_cv(self.frame, n_jobs=workers, refit=run.refit)
            seconds = time.perf_counter() - began
            self.theirs[run.key] = mae_per_series(cv)
        self.seconds.setdefault(run.key, []).append(seconds)
        return seconds


def dask_frame(frame: pd.DataFrame, partitions: int) -> Any:
    return dd.from_pandas(frame, npartitions=partitions)  # type: ignore[no-untyped-call]


# Fugue's groupby-apply on Dask warns of a pandas deprecation in every task, and Dask's shuffle logs each shuffle.
FUGUE_NOISE = "DataFrameGroupBy.apply operated on the grouping columns"


def quiet_fugue() -> None:
    warnings.filterwarnings("ignore", message=FUGUE_NOISE, category=FutureWarning)
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)


def fugue_seconds(frame: pd.DataFrame, workers: int) -> tuple[float, pd.DataFrame]:
    """statsforecast's cross_validation on a Dask frame (Fugue) on a fresh LocalCluster of `workers` processes of one
    thread each, the one `retrodiction train --workers N --processes` starts (local_cluster_client): the cluster's
    start, the workers' first statsforecast calls, Fugue's first call and the frame's transfer to the workers stay
    outside the timing."""
    with local_cluster_client(workers, processes=True) as client:
        quiet_fugue()
        client.run(quiet_fugue)
        client.run(warm_statsforecast)
        statsforecast_cv(dask_frame(long_frame(monthly_frame(4, 30, seed=98)), 2), windows=2)
        data = client.persist(dask_frame(frame, workers))
        wait(data)
        began = time.perf_counter()
        cv = statsforecast_cv(data, refit=True)
        return time.perf_counter() - began, cv


@dataclass(frozen=True)
class Check:
    """Our run's MAE per series against one statsforecast run's of the same refit."""

    ours: str
    theirs: str
    difference: float

    @property
    def tolerance(self) -> float:
        return FUGUE_TOLERANCE if self.theirs.startswith("fugue") else RELATIVE_TOLERANCE

    @property
    def failed(self) -> bool:
        return not self.difference <= self.tolerance

    def line(self) -> str:
        verdict = "FAIL" if self.failed else "ok"
        return (
            f"  {self.ours} vs {self.theirs}: largest relative MAE difference {self.difference:.2g} "
            f"(tolerance {self.tolerance:g}): {verdict}"
        )


def checks(bench: Bench) -> tuple[list[Check], list[str]]:
    """Every (our run, statsforecast run) pair of the same refit, and our runs that had no such statsforecast run."""
    done, unchecked = [], []
    for ours, summary in bench.ours.items():
        refit = RUN_BY_KEY[ours].refit
        same = [key for key in bench.theirs if RUN_BY_KEY[key].refit == refit]
        done += [Check(ours, key, largest_difference(summary, bench.theirs[key])) for key in same]
        if not same:
            unchecked.append(ours)
    return done, unchecked


def show_runs(bench: Bench, repeats: int) -> None:
    print(f"{'run':<70} {'best s':>8} {'median s':>9}" + ("   all" if repeats > 1 else ""))
    for run in RUNS:
        if runs := bench.seconds.get(run.key):
            shown = "   " + ", ".join(f"{s:.2f}" for s in runs) if repeats > 1 else ""
            print(f"  {run.label:<68} {min(runs):8.2f} {statistics.median(runs):9.2f}{shown}")
    for baseline, ours, text in SIDE_RATIOS:
        if bench.seconds.get(baseline) and bench.seconds.get(ours):
            ratio = statistics.median(bench.seconds[baseline]) / statistics.median(bench.seconds[ours])
            print(f"  ({text}: {ratio:.2f}x)")


# Ratios printed beside the targets (no target of their own): (slower run, faster run, what it says).
SIDE_RATIOS = (
    ("sf-1", "sf-2", "statsforecast n_jobs=2 vs n_jobs=1"),
    ("sf-2", "ours-2", f"{WORKERS} workers vs statsforecast n_jobs=2"),
    (
        "sf-2-refit4",
        "ours-2-refit4",
        f"refitEvery {REFIT_EVERY}, {WORKERS} workers vs statsforecast refit={REFIT_EVERY}",
    ),
    ("sf-2", "sf-2-refit4", f"statsforecast refit={REFIT_EVERY} vs refit=True, n_jobs=2"),
)


def show_batches(bench: Bench, per_batch: int) -> None:
    """Our batch count and mean AutoETS seconds a batch, refitting at every origin and every 4th."""
    shown: set[bool | int] = set()
    for key in ("ours-1", "ours-2", "ours-2-refit4"):
        summary, refit = bench.ours.get(key), RUN_BY_KEY[key].refit
        if summary is None or refit in shown:
            continue
        shown.add(refit)
        mean = summary.model_seconds / summary.batches
        kind = "refit at every origin" if refit is True else f"refitEvery {refit}"
        print(
            f"our batches, {kind} ({key}): {summary.batches} of a year x {per_batch} series, {mean:.2f} s of "
            f"AutoETS each on average ({summary.model_seconds:.1f} s in all, the summary's models[].seconds)"
        )
        if mean < 1.0:
            print("  note: batches under a second each; a larger --per-batch keeps Dask's share small")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--points", type=int, default=60, help="months of the panel; the last 36 are scored")
    parser.add_argument("--per-batch", type=int, default=10, help="series per batch (spec.variablesPerBatch)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of runs; best and median shown")
    parser.add_argument(
        "--only", nargs="+", choices=[t.key for t in TARGETS], help="these targets alone (and the runs they need)"
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SERIES} series, for a smoke check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.series = QUICK_SERIES
    if args.points < WINDOWS + 2 or args.series < 1 or args.per_batch < 1 or args.repeats < 1:
        parser.error(f"--points must be at least {WINDOWS + 2}; --series, --per-batch and --repeats at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    runs = chosen_runs(args.only or [t.key for t in TARGETS])
    with tempfile.TemporaryDirectory() as folder:
        panel = write_monthly_panel(Path(folder), args.series, args.points, seed=args.seed)
        manifests = {
            refit: write_panel_manifest(panel, None if refit is True else refit, per_batch=args.per_batch)
            for refit in {run.refit for run in runs}
        }
        bench = Bench(long_frame(pd.read_parquet(panel.path)), manifests)
        for round_ in range(args.repeats):
            for run in runs:
                seconds = bench.measure(run)
                print(f"round {round_ + 1}: {run.label}: {seconds:.2f} s", file=sys.stderr, flush=True)
        floors = version_seconds(), import_seconds()

    print(
        f"panel: {args.series} monthly series x {args.points} months from {FIRST_MONTH:%Y-%m}, the last {WINDOWS} "
        f"scored one step ahead by AutoETS(season_length={SEASON_LENGTH}): {args.series * WINDOWS:,} fits refitting "
        f"at every origin, {args.series * -(-WINDOWS // REFIT_EVERY):,} refitting every {REFIT_EVERY}th"
    )
    show_batches(bench, min(args.per_batch, args.series))
    show_runs(bench, args.repeats)
    print(
        f"  (fresh interpreters: `retrodiction --version` {floors[0]:.2f} s, `import statsforecast.models` "
        f"{floors[1]:.2f} s; our command and each of its workers import the models once, inside its time)"
    )
    if (note := bytecode_note()) is not None:
        print(note)
    done, unchecked = checks(bench)
    print("MAE per series, ours vs statsforecast's cross_validation:")
    for check in done:
        print(check.line())
    for key in unchecked:
        print(f"  {key}: not checked (no statsforecast run of the same refit in this selection)")
    verdicts = evaluate(bench.seconds)
    for verdict in verdicts:
        print(verdict.line())
    if any(check.failed for check in done):
        print("FAIL: our MAE differ from statsforecast's")
        return 1
    if not args.quick and not all(verdict.met for verdict in verdicts):
        print("FAIL: a target is not met")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
