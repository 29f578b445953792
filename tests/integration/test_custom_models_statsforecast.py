"""Custom models forecast exactly what statsforecast's cross_validation forecasts, whatever the batch layout.

The panel is three series of the bundled macrodata (US macroeconomic data, public domain). statsforecast runs
`cross_validation(h=3, n_windows=6, step_size=1)` with `refit=True` and `refit=4`; the run's window starts at the
first window's first target, so its origin index 0 is statsforecast's first cutoff, and refitEvery: 4 refits where
refit=4 does. Every forecast (mean and both interval bounds) of statsforecast must be one of ours to 1e-9.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsforecast import StatsForecast

from retrodiction.api.training import CustomModel
from retrodiction.batches import TrainingBatch
from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data import DataSource, read_frame
from retrodiction.data.timeaxis import to_utc_naive
from retrodiction.engine import EngineConfig
from retrodiction.forecasters import BatchRows, custom_forecasts, model_factory
from retrodiction.times import as_utc
from tests.results import assert_same_results, in_process_results

pytestmark = pytest.mark.timeout(600)

VARIABLES = ["realgdp", "realcons", "realinv"]
HORIZONS = (1, 2, 3)
N_WINDOWS = 6
LEVELS = [80, 95]
SOURCE = DataSource("builtin://macrodata")
# Batch layouts: the whole window in one batch of all series, and two quarters per batch of one or two series.
LAYOUTS = [(100_000, 3), (200, 2)]

MODELS: dict[str, dict[str, Any]] = {
    "ets": {"statsforecast": {"model": "AutoETS", "params": {"season_length": 4}}},
    # A narrower order search than the default keeps the test in seconds; the search itself is the same code.
    "autoarima": {
        "statsforecast": {"model": "AutoARIMA", "params": {"season_length": 4, "max_p": 2, "max_q": 2, "max_P": 1}}
    },
    "arima111": {"statsforecast": {"model": "ARIMA", "params": {"order": [1, 1, 1]}}},
    "theta": {"statsforecast": {"model": "Theta", "params": {"season_length": 4}}},
    # lookback is statsforecast's input_size: the last 40 rows up to each origin.
    "theta-lookback": {"statsforecast": {"model": "Theta", "params": {"season_length": 4}}, "lookback": 40},
    "damped": {"plugin": {"entryPoint": "damped-trend", "params": {"phi": 0.9}}},
}
REFITS: list[tuple[bool | int, int | None]] = [(True, None), (4, 4)]


def custom_model(name: str, refit_every: int | None) -> CustomModel:
    return CustomModel.model_validate({"name": name, **MODELS[name], "refitEvery": refit_every, "levels": LEVELS})


@pytest.fixture(scope="module")
def panel() -> tuple[np.ndarray, np.ndarray]:
    frame = read_frame(SOURCE, VARIABLES)
    return frame.times, frame.values


def statsforecast_cv(
    values: np.ndarray, spec: CustomModel, refit: bool | int
) -> dict[tuple[int, int, int], dict[str, float]]:
    """{(target row, series, h): {"mean", "lo-80", ...}} from statsforecast's cross_validation."""
    n_rows = len(values)
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(len(VARIABLES)), n_rows),
            "ds": np.tile(np.arange(n_rows), len(VARIABLES)),
            "y": values.T.ravel(),
        }
    )
    model = model_factory(spec)()
    cv = StatsForecast(models=[model], freq=1, n_jobs=1).cross_validation(
        df=frame,
        h=max(HORIZONS),
        n_windows=N_WINDOWS,
        step_size=1,
        refit=refit,
        level=LEVELS,
        input_size=spec.lookback,
    )
    keys = ["mean", *(f"{side}-{level}" for level in LEVELS for side in ("lo", "hi"))]
    return _rows(cv, repr(model), keys)


def _rows(cv: pd.DataFrame, column: str, keys: list[str]) -> dict[tuple[int, int, int], dict[str, float]]:
    names = {key: column if key == "mean" else f"{column}-{key}" for key in keys}
    out: dict[tuple[int, int, int], dict[str, float]] = {}
    for record in cv.to_dict("records"):
        target, series = int(record["ds"]), int(record["unique_id"])
        out[(target, series, target - int(record["cutoff"]))] = {key: float(record[names[key]]) for key in keys}
    return out


def coordinator(times: np.ndarray, spec: CustomModel, layout: tuple[int, int]) -> ParallelTrainingCoordinator:
    config = TrainingConfig(
        source=SOURCE,
        engine=EngineConfig(models=(), horizons=HORIZONS, season_length=4, window_length=4),
        custom_models=(spec,),
    )
    first_target = len(times) - N_WINDOWS - max(HORIZONS) + 1
    start = as_utc(pd.Timestamp(times[first_target]).to_pydatetime())
    end = as_utc(pd.Timestamp(times[-1]).to_pydatetime()) + timedelta(days=1)
    run = ParallelTrainingCoordinator(config)
    run.prepare_training_batches(VARIABLES, start, end, batch_size_days=layout[0], variables_per_batch=layout[1])
    return run


def batch_forecasts(
    run: ParallelTrainingCoordinator, batch: TrainingBatch, times: np.ndarray
) -> dict[tuple[int, int, int], dict[str, float]]:
    """One batch's forecasts, computed from what the batch reads, keyed like statsforecast_cv's."""
    (plan,) = run.custom_plans
    frame = read_frame(SOURCE, batch.variables, batch.load_start_time, batch.end_time)
    first = int(np.searchsorted(frame.times, to_utc_naive(batch.start_time), side="left"))
    n_targets = len(frame.times) - first
    rows = BatchRows(frame.values, first, n_targets, HORIZONS, batch.origin_index)
    forecasts, errors = custom_forecasts(rows, plan, model_factory(plan.spec))
    assert errors.count == 0, errors.first
    row_of = {time: row for row, time in enumerate(times)}
    out: dict[tuple[int, int, int], dict[str, float]] = {}
    for h_index, horizon in enumerate(HORIZONS):
        for target in range(n_targets):
            for column, variable in enumerate(batch.variables):
                values = {"mean": forecasts.mean[h_index][target, column]}
                for level in LEVELS:
                    values[f"lo-{level}"] = forecasts.lower[level][h_index][target, column]
                    values[f"hi-{level}"] = forecasts.upper[level][h_index][target, column]
                key = (row_of[frame.times[first + target]], VARIABLES.index(variable), horizon)
                out[key] = {name: float(value) for name, value in values.items()}
    return out


@pytest.mark.parametrize(("refit", "refit_every"), REFITS, ids=["refit-every-origin", "refit-every-4"])
@pytest.mark.parametrize("name", list(MODELS))
def test_forecasts_equal_statsforecast_cross_validation_in_every_batch_layout(
    name: str, refit: bool | int, refit_every: int | None, panel: tuple[np.ndarray, np.ndarray]
) -> None:
    times, values = panel
    spec = custom_model(name, refit_every)
    reference = statsforecast_cv(values, spec, refit)
    assert len(reference) == N_WINDOWS * max(HORIZONS) * len(VARIABLES)
    for layout in LAYOUTS:
        run = coordinator(times, spec, layout)
        ours: dict[tuple[int, int, int], dict[str, float]] = {}
        for batch in run.batches:
            ours.update(batch_forecasts(run, batch, times))
        for key, expected in reference.items():
            assert key in ours, (layout, key)
            for what, value in expected.items():
                assert ours[key][what] == pytest.approx(value, rel=1e-9, abs=1e-9), (layout, key, what)


@pytest.mark.parametrize(("refit", "refit_every"), REFITS, ids=["refit-every-origin", "refit-every-4"])
@pytest.mark.parametrize("name", ["ets", "theta", "damped"])
def test_the_summary_of_a_custom_model_does_not_depend_on_the_batch_layout(
    name: str, refit: bool | int, refit_every: int | None, panel: tuple[np.ndarray, np.ndarray]
) -> None:
    times, _ = panel
    spec = custom_model(name, refit_every)
    whole, *others = [in_process_results(coordinator(times, spec, layout), shuffle_seed=7) for layout in LAYOUTS]
    assert {row["model"] for row in whole} == {name}
    assert all(row["n"] > 0 and [i["level"] for i in row["intervals"]] == LEVELS for row in whole)
    for other in others:
        assert_same_results(other, whole)
