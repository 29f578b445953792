"""`retrodiction train`, start-up included, against statsforecast's `cross_validation` call alone, in one run.

The panel: 1,000 daily random walks of 2,000 days (Parquet), the last 500 days scored as one-step forecasts by the
models both have: Naive, SeasonalNaive(7) and WindowAverage(28), 1.5M forecasts a side. statsforecast's side is its
`cross_validation` call alone (n_jobs=1, numba compiled beforehand, the frame already in memory). Ours is the whole
command as a person runs it: a fresh interpreter, its imports, the manifest, the data, the local cluster, the run,
the summary file and the table (to a pipe); the median of --repeats runs. Both sides' MAE per series and model
must agree to 1e-9. Target: the command at least 4x faster. Exits 1 below the target or when the MAE differ.

    python -m benchmarks.cli_startup [--series 1000] [--points 2000] [--targets 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsforecast
from benchmarks.training_runs import COMMAND, Panel, timed_train, write_manifest, write_panel
from statsforecast import StatsForecast
from statsforecast.models import Naive, SeasonalNaive, WindowAverage

SEASON_LENGTH, WINDOW_LENGTH = 7, 28
# Our model names and statsforecast's output columns for them.
MODEL_COLUMNS = {"naive": "Naive", "seasonal_naive": "SeasonalNaive", "window_average": "WindowAverage"}
TARGET_RATIO = 4.0
RELATIVE_TOLERANCE = 1e-9


def statsforecast_cv(frame: pd.DataFrame, targets: int) -> pd.DataFrame:
    models = [Naive(), SeasonalNaive(season_length=SEASON_LENGTH), WindowAverage(window_size=WINDOW_LENGTH)]
    cv: pd.DataFrame = StatsForecast(models=models, freq="D", n_jobs=1).cross_validation(
        df=frame, h=1, n_windows=targets, step_size=1
    )
    return cv


def long_frame(panel: Panel) -> pd.DataFrame:
    wide = pd.read_parquet(panel.path)
    return wide.melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})


def timed_statsforecast(frame: pd.DataFrame, targets: int) -> tuple[float, pd.DataFrame]:
    # numba compiles statsforecast's models on first use; that stays out of the measurement.
    statsforecast_cv(frame[frame["unique_id"] == "s0000"].head(WINDOW_LENGTH + 10), 3)
    began = time.perf_counter()
    cv = statsforecast_cv(frame, targets)
    return time.perf_counter() - began, cv


def largest_mae_difference(cv: pd.DataFrame, summary: Path) -> float:
    """Largest relative difference between statsforecast's MAE per series and model and the summary's."""
    ours = {(r["variable"], r["model"]): r["mae"] for r in json.loads(summary.read_text())["results"]}
    worst = 0.0
    for model, column in MODEL_COLUMNS.items():
        theirs = (cv["y"] - cv[column]).abs().groupby(cv["unique_id"]).mean()
        mine = np.array([ours[str(series), model] for series in theirs.index])
        worst = max(worst, float(np.max(np.abs(mine - theirs.to_numpy()) / np.maximum(np.abs(mine), 1e-12))))
    return worst


def version_seconds() -> float:
    """A fresh interpreter importing the command line and exiting: the floor under any command."""
    began = time.perf_counter()
    subprocess.run([COMMAND, "--version"], check=True, capture_output=True)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--targets", type=int, default=500, help="last days scored as one-step forecasts")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the command; the median is used")
    args = parser.parse_args(argv)
    retrodiction = {
        "models": list(MODEL_COLUMNS),
        "horizons": [1],
        "seasonLength": SEASON_LENGTH,
        "windowLength": WINDOW_LENGTH,
    }
    with tempfile.TemporaryDirectory() as folder:
        panel = write_panel(Path(folder), args.series, args.points)
        manifest = write_manifest(panel, args.points - args.targets, retrodiction, name="startup")
        sf_seconds, cv = timed_statsforecast(long_frame(panel), args.targets)
        runs = [timed_train(manifest) for _ in range(args.repeats)]
        difference = largest_mae_difference(cv, manifest.with_suffix(".summary.json"))
        floor = version_seconds()

    forecasts = args.series * args.targets * len(MODEL_COLUMNS)
    command, ratio = statistics.median(runs), sf_seconds / statistics.median(runs)
    print(f"panel: {args.series} series x {args.points} days, last {args.targets} scored; {forecasts:,} forecasts")
    baseline = f"statsforecast {statsforecast.__version__} cross_validation, n_jobs=1, the call alone"
    print(f"  baseline {baseline}: {sf_seconds:.2f} s")
    shown = ", ".join(f"{seconds:.2f}" for seconds in runs)
    print(f"  retrodiction train, the whole command: median {command:.2f} s ({shown})")
    print(f"  (a fresh `retrodiction --version`: {floor:.2f} s)")
    print(f"  largest relative MAE difference (per series and model): {difference:.2g}")
    print(f"RESULT retrodiction train vs statsforecast cross_validation: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x)")
    if difference > RELATIVE_TOLERANCE:
        print("FAIL: the two sides' MAE differ")
        return 1
    if ratio < TARGET_RATIO:
        print(f"FAIL: {ratio:.1f}x is below the target of {TARGET_RATIO:.0f}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
