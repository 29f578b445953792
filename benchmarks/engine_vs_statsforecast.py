"""Rolling-origin one-step forecasts: retrodiction's numpy engine against statsforecast's cross_validation.

Same data (seeded random walks), same models (Naive, SeasonalNaive(7), WindowAverage(28)), same origins, in
one run. The forecasts must agree; the script prints both throughputs and their ratio and exits non-zero if
the forecasts differ. Run `python benchmarks/engine_vs_statsforecast.py --series 20 --points 200 --targets 30`
for a quick smoke check.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from statsforecast import StatsForecast
from statsforecast.models import Naive, SeasonalNaive, WindowAverage

from retrodiction.engine import EngineConfig, forecasts, score_targets

SEASON_LENGTH = 7
WINDOW_SIZE = 28
# statsforecast's output column for each engine model
MODEL_COLUMNS = {"naive": "Naive", "seasonal_naive": "SeasonalNaive", "window_average": "WindowAverage"}
RELATIVE_TOLERANCE = 1e-9


def random_walks(n_points: int, n_series: int, seed: int) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    walks: NDArray[np.float64] = 100.0 + np.cumsum(rng.normal(size=(n_points, n_series)), axis=0)
    return walks


def long_frame(values: NDArray[np.float64]) -> pd.DataFrame:
    n_points, n_series = values.shape
    return pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n_series), n_points),
            "ds": np.tile(pd.date_range("2000-01-01", periods=n_points, freq="D"), n_series),
            "y": values.T.ravel(),
        }
    )


def statsforecast_cv(frame: pd.DataFrame, n_targets: int) -> pd.DataFrame:
    sf = StatsForecast(
        models=[Naive(), SeasonalNaive(season_length=SEASON_LENGTH), WindowAverage(window_size=WINDOW_SIZE)],
        freq="D",
        n_jobs=1,
    )
    cv: pd.DataFrame = sf.cross_validation(df=frame, h=1, n_windows=n_targets, step_size=1)
    return cv


def as_matrix(cv: pd.DataFrame, column: str, n_series: int, n_targets: int) -> NDArray[np.float64]:
    """(targets, series) matrix of one statsforecast output column."""
    ordered = cv.sort_values(["unique_id", "ds"])
    matrix: NDArray[np.float64] = ordered[column].to_numpy(np.float64).reshape(n_series, n_targets).T
    return matrix


def engine_forecasts(
    values: NDArray[np.float64], origins: NDArray[np.int64], config: EngineConfig
) -> dict[str, NDArray[np.float64]]:
    return {model: forecasts(values, origins, 1, model, config) for model in MODEL_COLUMNS}


def timed(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(first, median) wall time in seconds over `repeats` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times)


def max_relative_difference(ours: NDArray[np.float64], theirs: NDArray[np.float64]) -> float:
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1.0)))


def report(label: str, seconds: float, rate: float, unit: str) -> None:
    print(f"{label:<42} {seconds:9.4f} s {rate:>14,.0f} {unit}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--targets", type=int, default=500, help="last points scored as one-step targets")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of the engine (median is used)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.points - args.targets <= WINDOW_SIZE:
        parser.error(f"--points must exceed --targets by more than the window ({WINDOW_SIZE})")

    values = random_walks(args.points, args.series, args.seed)
    frame = long_frame(values)
    n_forecasts = args.series * args.targets * len(MODEL_COLUMNS)
    print(f"data: {args.series} series x {args.points} points, last {args.targets} as one-step targets")
    print(f"models: Naive, SeasonalNaive({SEASON_LENGTH}), WindowAverage({WINDOW_SIZE})")
    print(f"forecasts per method: {n_forecasts:,}")

    # numba compiles statsforecast's models on first use; keep that out of the measurement
    statsforecast_cv(long_frame(random_walks(WINDOW_SIZE + 10, 2, args.seed)), 3)
    start = time.perf_counter()
    cv = statsforecast_cv(frame, args.targets)
    sf_seconds = time.perf_counter() - start

    config = EngineConfig(
        models=tuple(MODEL_COLUMNS), season_length=SEASON_LENGTH, window_length=WINDOW_SIZE, ses_alpha=0.2
    )
    origins = np.arange(args.points - args.targets - 1, args.points - 1, dtype=np.int64)
    ours = engine_forecasts(values, origins, config)
    first_seconds, our_seconds = timed(lambda: engine_forecasts(values, origins, config), args.repeats)

    actual = as_matrix(cv, "y", args.series, args.targets)
    aligned = np.array_equal(actual, values[origins + 1])
    differences = {
        model: max_relative_difference(ours[model], as_matrix(cv, column, args.series, args.targets))
        for model, column in MODEL_COLUMNS.items()
    }
    for model, difference in differences.items():
        print(f"max relative difference {model:>15}: {difference:.3g}")
    agree = aligned and all(d <= RELATIVE_TOLERANCE for d in differences.values())

    all_models = EngineConfig(season_length=SEASON_LENGTH, window_length=WINDOW_SIZE, ses_alpha=0.2)
    score_first, score_seconds = timed(
        lambda: score_targets(values, args.points - args.targets, all_models), args.repeats
    )
    n_scored = args.series * args.targets * len(all_models.models)

    sf_rate, our_rate = n_forecasts / sf_seconds, n_forecasts / our_seconds
    report("statsforecast cross_validation, n_jobs=1", sf_seconds, sf_rate, "forecasts/s")
    report(f"engine forecasts(), median of {args.repeats}", our_seconds, our_rate, "forecasts/s")
    print(f"  (engine first run {first_seconds:.4f} s)")
    report(
        "engine score_targets(), 5 models, median",
        score_seconds,
        n_scored / score_seconds,
        f"scored forecasts/s ({n_scored:,}; first run {score_first:.4f} s; SES alpha 0.2)",
    )
    if not agree:
        print("FAIL: forecasts differ" + ("" if aligned else " (targets misaligned)"), file=sys.stderr)
        return 1
    print(f"RESULT engine/statsforecast throughput ratio: {our_rate / sf_rate:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
