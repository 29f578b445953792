"""benchmarks/custom_models.py's own logic: its monthly panel, the window of its manifests against statsforecast's
cross-validation cutoffs, the MAE comparison and the targets. No AutoETS fit runs here (Naive stands in where
statsforecast must cut the windows)."""

from __future__ import annotations

import json
from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from benchmarks.custom_models import (
    FUGUE_TOLERANCE,
    RELATIVE_TOLERANCE,
    RUNS,
    TARGETS,
    WINDOWS,
    Check,
    Summary,
    chosen_runs,
    evaluate,
    largest_difference,
    long_frame,
    mae_per_series,
    monthly_frame,
    ran_on_processes,
    statsforecast_cv,
    write_monthly_panel,
    write_panel_manifest,
)
from statsforecast.models import Naive

from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data.timeaxis import window_slice
from retrodiction.execution.sizing import LocalPool
from retrodiction.manifest import load_training


def test_the_panel_has_a_row_a_month_from_january_2000_and_a_column_a_series() -> None:
    frame = monthly_frame(3, 40)
    assert list(frame.columns) == ["date", "s0000", "s0001", "s0002"]
    assert len(frame) == 40
    assert list(frame["date"][:2]) == [pd.Timestamp("2000-01-01"), pd.Timestamp("2000-02-01")]
    assert frame["date"].iloc[-1] == pd.Timestamp("2003-04-01")


def test_the_same_seed_gives_the_same_panel_and_another_seed_another() -> None:
    pd.testing.assert_frame_equal(monthly_frame(5, 60, seed=3), monthly_frame(5, 60, seed=3))
    assert not monthly_frame(5, 60, seed=3).equals(monthly_frame(5, 60, seed=4))


def test_every_value_of_the_default_panel_is_positive_and_above_its_floor() -> None:
    values = monthly_frame(200, 60).drop(columns="date").to_numpy()
    assert np.isfinite(values).all()
    assert values.min() > 1.0  # the floor of 1 is a guarantee, never reached


def test_the_panel_repeats_itself_a_year_later_more_than_half_a_year_later() -> None:
    values = monthly_frame(200, 60).drop(columns="date").to_numpy()
    year = np.mean((values[12:] - values[:-12]) ** 2, axis=0)
    half_year = np.mean((values[6:] - values[:-6]) ** 2, axis=0)
    assert np.median(year / half_year) < 0.5


def test_the_parquet_panel_holds_the_frame_and_dates_its_rows_by_month(tmp_path: Path) -> None:
    panel = write_monthly_panel(tmp_path, 3, 40, seed=1)
    pd.testing.assert_frame_equal(pd.read_parquet(panel.path), monthly_frame(3, 40, seed=1), check_dtype=False)
    assert panel.variables == ["s0000", "s0001", "s0002"]
    assert [panel.day(i) for i in (0, 11, 12, 40)] == [
        date(2000, 1, 1),
        date(2000, 12, 1),
        date(2001, 1, 1),
        date(2003, 5, 1),
    ]


@pytest.mark.parametrize("points", [WINDOWS + 2, 60])
def test_the_manifest_scores_the_targets_of_statsforecasts_cross_validation(tmp_path: Path, points: int) -> None:
    """The window's first target is statsforecast's first cutoff + 1 month, and its targets are exactly the
    cross-validation's, so the run's origin 0 is statsforecast's first window."""
    panel = write_monthly_panel(tmp_path, 2, points)
    wide = pd.read_parquet(panel.path)
    cv = statsforecast_cv(long_frame(wide), model=Naive())
    spec = load_training(write_panel_manifest(panel, None, per_batch=10)).spec
    times = wide["date"].to_numpy(dtype="datetime64[ns]")
    rows = window_slice(times, spec.window.start, spec.window.end)
    assert list(times[rows]) == sorted(cv["ds"].unique())
    assert times[rows.start - 1] == cv["cutoff"].min()
    assert rows.stop - rows.start == WINDOWS == cv["cutoff"].nunique()


def test_the_run_plans_every_target_once_in_yearly_batches_of_the_asked_series(tmp_path: Path) -> None:
    panel = write_monthly_panel(tmp_path, 25, 60)
    spec = load_training(write_panel_manifest(panel, 4, per_batch=10)).spec
    run = ParallelTrainingCoordinator(config=TrainingConfig.from_spec(spec))
    run.prepare_spec_batches(spec)
    assert len(run.batches) == 3 * 3  # three years x groups of 10, 10 and 5 series
    assert {batch.n_targets for batch in run.batches} == {12}
    assert sum(batch.n_targets * len(batch.variables) for batch in run.batches) == 25 * WINDOWS


@pytest.mark.parametrize("refit_every", [None, 4])
def test_the_manifest_runs_autoets_alone_refitted_as_asked(tmp_path: Path, refit_every: int | None) -> None:
    panel = write_monthly_panel(tmp_path, 2, 60)
    spec = load_training(write_panel_manifest(panel, refit_every, per_batch=7)).spec
    (model,) = spec.retrodiction.custom_models
    assert spec.retrodiction.models == []
    assert spec.retrodiction.horizons == [1]
    assert model.statsforecast is not None
    assert (model.statsforecast.model, model.statsforecast.params) == ("AutoETS", {"season_length": 12})
    assert model.refit_every == refit_every
    assert model.lookback is None
    assert spec.variables_per_batch == 7


def test_mae_per_series_is_the_mean_absolute_error_of_each_series() -> None:
    cv = pd.DataFrame(
        {"unique_id": ["a", "a", "b"], "y": [1.0, 2.0, 5.0], "AutoETS": np.array([2.0, 0.0, 4.5], dtype=np.float32)}
    )
    assert mae_per_series(cv) == {"a": 1.5, "b": 0.5}


def summary(mae: dict[str, float], scored: int = WINDOWS) -> Summary:
    return Summary(mae=mae, scored=dict.fromkeys(mae, scored), batches=1, model_seconds=1.0)


def test_the_mae_difference_is_relative_to_ours() -> None:
    assert largest_difference(summary({"a": 2.0, "b": 4.0}), {"a": 2.0, "b": 4.0}) == 0.0
    assert largest_difference(summary({"a": 2.0, "b": 4.0}), {"a": 2.0, "b": 4.0 + 4e-9}) == pytest.approx(1e-9)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (summary({"a": 2.0}), {"a": 2.0, "b": 1.0}),  # a series we did not score
        (summary({"a": 2.0, "b": 1.0}), {"a": 2.0}),  # a series statsforecast did not
        (summary({"a": 2.0}, scored=WINDOWS - 1), {"a": 2.0}),  # an origin skipped
        (summary({"a": float("nan")}), {"a": 2.0}),  # no MAE
        (summary({}), {}),  # nothing compared
    ],
    ids=["ours-missing", "theirs-missing", "origin-skipped", "nan", "empty"],
)
def test_a_series_missing_or_not_scored_at_every_origin_is_an_infinite_difference(
    ours: Summary, theirs: dict[str, float]
) -> None:
    assert largest_difference(ours, theirs) == float("inf")


def test_fugue_is_checked_to_float32_precision_and_the_others_to_1e_9() -> None:
    assert not Check("ours-2", "fugue-2", FUGUE_TOLERANCE / 2).failed
    assert Check("ours-2", "sf-2", FUGUE_TOLERANCE / 2).failed
    assert not Check("ours-2", "sf-2", RELATIVE_TOLERANCE).failed
    assert Check("ours-2", "sf-2", float("inf")).failed


def test_the_summary_gives_the_models_mae_batches_and_seconds(tmp_path: Path) -> None:
    row = {"model": "ets", "horizon": 1, "n": 36, "mae": 2.5}
    document = {
        "batches": {"total": 6},
        "results": [{**row, "variable": "s0000"}, {**row, "variable": "s0001", "mae": None}],
        "models": [{"model": "ets", "seconds": 12.0}],
    }
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(document))
    read = Summary.read(path)
    assert read.mae["s0000"] == 2.5
    assert np.isnan(read.mae["s0001"])
    assert (read.scored, read.batches, read.model_seconds) == ({"s0000": 36, "s0001": 36}, 6, 12.0)


def test_the_worker_processes_are_read_from_the_commands_first_note() -> None:
    assert ran_on_processes(f"ets-refit1: 6 batches on {LocalPool(2, processes=True).describe()}\n") == 2
    assert ran_on_processes(f"ets-refit1: 6 batches on {LocalPool(1, processes=True).describe()}\n") == 1
    assert ran_on_processes(f"ets-refit1: 6 batches on {LocalPool(2, processes=False).describe()}\n") is None


def test_a_target_is_met_at_its_minimum_ratio_and_not_below() -> None:
    single = next(target for target in TARGETS if target.key == "single")
    (met,) = evaluate({"sf-1": [9.0], "ours-1": [10.0]})
    (missed,) = evaluate({"sf-1": [8.9], "ours-1": [10.0]})
    assert met.target == missed.target == single
    assert met.ratio == pytest.approx(0.9)
    assert met.met and "met" in met.line() and "NOT" not in met.line()
    assert not missed.met and "NOT met" in missed.line()


def test_targets_compare_the_medians_of_the_rounds() -> None:
    (verdict,) = evaluate({"ours-1": [20.0, 100.0, 21.0], "ours-2": [10.0, 10.5, 1.0]})
    assert verdict.target.key == "scaling"
    assert verdict.ratio == pytest.approx(21.0 / 10.0)


def test_a_target_is_left_out_until_both_its_runs_are_measured() -> None:
    assert evaluate({"ours-2": [10.0], "sf-2": [10.0]}) == []
    keys = [v.target.key for v in evaluate({"ours-1": [2.0], "ours-2": [1.0], "ours-2-refit4": [0.3]})]
    assert keys == ["scaling", "refit"]


def test_the_runs_alternate_the_two_sides_and_each_target_gets_what_it_needs() -> None:
    everything = [run.key for run in chosen_runs(t.key for t in TARGETS)]
    assert everything == [run.key for run in RUNS]
    sides = [key.startswith("ours") for key in everything]
    assert all(before != after for before, after in pairwise(sides))  # statsforecast, ours, statsforecast, ...
    for target in TARGETS:
        assert set(target.runs) == {run.key for run in chosen_runs([target.key])}
    assert [run.key for run in chosen_runs(["refit"])] == ["ours-2", "ours-2-refit4", "sf-2-refit4"]
