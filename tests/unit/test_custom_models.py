"""Custom models: the spec's rules, building models from it, the histories they see, and how they are scored."""

from __future__ import annotations

import inspect
import re
from typing import Any

import numpy as np
import pytest
import statsforecast.models
from pydantic import ValidationError

from retrodiction.api.training import STATSFORECAST_MODELS, CustomModel, RetrodictionSpec
from retrodiction.data import DataError
from retrodiction.engine import EngineConfig, ForecastSet, Scores, forecasts, score_forecasts, score_targets
from retrodiction.engine.intervals import interval_scores, winkler_scores
from retrodiction.forecasters import (
    BatchRows,
    CustomModelPlan,
    check_custom_models,
    custom_forecasts,
    fill_gaps,
    model_factory,
)
from retrodiction.forecasters.histories import SeriesHistory


def custom(**fields: Any) -> CustomModel:
    return CustomModel.model_validate({"name": "m", "statsforecast": {"model": "Naive"}, **fields})


# -- the spec -------------------------------------------------------------------------------------------------------


def test_the_statsforecast_classes_a_spec_may_name_are_the_installed_statsforecast_models() -> None:
    installed = {
        name
        for name, value in vars(statsforecast.models).items()
        if inspect.isclass(value) and issubclass(value, statsforecast.models._TS) and not name.startswith("_")
    }
    assert set(STATSFORECAST_MODELS) == installed - {"_TS", "SklearnModel"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "naive"}, "must differ from the builtin models' names"),
        ({"plugin": {"entryPoint": "x"}}, "exactly one of statsforecast and plugin"),
        ({"statsforecast": None}, "exactly one of statsforecast and plugin"),
        ({"statsforecast": {"model": "Prophet"}}, "statsforecast.model"),
        ({"levels": [100]}, "levels.0"),
        ({"levels": [80, 80]}, "duplicate value 80"),
        ({"refitEvery": 0}, "refitEvery"),
        ({"lookback": 0}, "lookback"),
        ({"gaps": "zero"}, "gaps"),
        ({"name": "Has Space"}, "name"),
        ({"statsforecast": {"model": "Naive", "params": {f"p{i}": i for i in range(33)}}}, "params"),
    ],
)
def test_a_bad_custom_model_is_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        custom(**fields)


def test_custom_model_names_are_unique_and_a_run_needs_one_model_in_all() -> None:
    one = {"name": "a", "statsforecast": {"model": "Naive"}}
    with pytest.raises(ValidationError, match="duplicate value 'a'"):
        RetrodictionSpec.model_validate({"customModels": [one, one]})
    with pytest.raises(ValidationError, match="at least one model between them"):
        RetrodictionSpec.model_validate({"models": [], "customModels": []})
    only_custom = RetrodictionSpec.model_validate({"models": [], "customModels": [one]})
    assert only_custom.model_names == ["a"]
    assert RetrodictionSpec.model_validate({"models": ["ses"], "customModels": [one]}).model_names == ["ses", "a"]


# -- building models ------------------------------------------------------------------------------------------------


def test_bad_params_fail_before_any_batch_naming_the_params_field() -> None:
    spec = custom(name="ets", statsforecast={"model": "AutoETS", "params": {"season_lenght": 12}})
    with pytest.raises(DataError) as caught:
        check_custom_models([spec])
    assert caught.value.field == "spec.retrodiction.customModels[0] (ets).statsforecast.params"
    assert "season_lenght" in caught.value.public


def test_a_missing_entry_point_is_named_with_the_installed_ones() -> None:
    spec = custom(name="mine", statsforecast=None, plugin={"entryPoint": "no-such-model"})
    with pytest.raises(DataError) as caught:
        check_custom_models([custom(name="ok"), spec])
    assert caught.value.field == "spec.retrodiction.customModels[1] (mine).plugin.entryPoint"
    assert "no entry point 'no-such-model' in group retrodiction.models" in caught.value.public
    assert "damped-trend" in caught.value.public  # the example plugin, installed in the test environment


@pytest.mark.parametrize("reference", ["damped-trend", "retrodiction_example_models.damped:make"])
def test_a_plugin_is_found_by_its_entry_point_name_or_object_reference(reference: str) -> None:
    spec = custom(statsforecast=None, plugin={"entryPoint": reference, "params": {"phi": 0.8}})
    model = model_factory(spec)()
    assert type(model).__name__ == "DampedTrend"
    assert model.phi == 0.8


def test_an_object_reference_outside_the_entry_points_is_never_imported() -> None:
    spec = custom(statsforecast=None, plugin={"entryPoint": "os:system"})
    with pytest.raises(DataError, match="no entry point 'os:system'"):
        model_factory(spec)


def test_refit_every_needs_a_model_with_a_forward_update() -> None:
    spec = custom(statsforecast={"model": "HistoricAverage"}, refitEvery=4)
    with pytest.raises(DataError) as caught:
        model_factory(spec)
    assert caught.value.field.endswith(".refitEvery")
    assert "no forward method" in caught.value.public


def test_levels_need_a_model_that_gives_intervals() -> None:
    class PointOnly:
        def forecast(self, y: Any, h: int) -> dict[str, Any]:
            return {"mean": np.repeat(y[-1], h)}

    from retrodiction.forecasters import registry

    spec = custom(levels=[80])
    with pytest.raises(DataError, match="gives no prediction intervals") as caught:
        registry._check_interface(PointOnly(), spec, "f", "PointOnly")
    assert caught.value.field == "f.levels"


# -- histories ------------------------------------------------------------------------------------------------------


def test_gaps_between_observations_are_filled_linearly_and_the_ends_stay_missing() -> None:
    column = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan])
    np.testing.assert_array_equal(fill_gaps(column), [np.nan, 1.0, 2.0, 3.0, 4.0, np.nan])


def test_a_history_is_the_lookback_window_from_its_first_observation() -> None:
    history = SeriesHistory(np.array([np.nan, 1.0, 2.0, np.nan, 4.0, 5.0]), lookback=4, gaps="interpolate")
    np.testing.assert_array_equal(history.until(5), [2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(history.until(2), [1.0, 2.0])
    assert history.until(0) is None


def test_a_refit_point_without_a_value_fits_on_the_rows_before_it_never_after() -> None:
    history = SeriesHistory(np.array([1.0, 2.0, np.nan, 4.0]), lookback=10, gaps="interpolate")
    # Row 2 is missing: its history ends at row 1, although row 3 (the future) would let it be interpolated.
    np.testing.assert_array_equal(history.until(2), [1.0, 2.0])
    assert not history.observed(2)


def test_the_skip_policy_refuses_a_window_holding_a_gap() -> None:
    history = SeriesHistory(np.array([1.0, np.nan, 3.0, 4.0, 5.0]), lookback=3, gaps="skip")
    assert history.until(2) is None  # rows 0..2 hold the gap between two observations
    # Rows 1..3: the window starts at its first observation, so a gap at its start only shortens it.
    np.testing.assert_array_equal(history.until(3), [3.0, 4.0])


def _naive_plan(**fields: Any) -> CustomModelPlan:
    return CustomModelPlan.of(custom(**fields), max_history_rows=1000)


def test_one_gap_does_not_skip_every_later_target() -> None:
    values = np.arange(20, dtype=np.float64).reshape(-1, 1)
    values[5] = np.nan
    plan = _naive_plan()
    result, errors = custom_forecasts(BatchRows(values, 3, 17, (1,)), plan, model_factory(plan.spec))
    made = ~np.isnan(result.mean[0][:, 0])
    # Targets are rows 3..19. Only the one whose origin is the missing row (row 6, origin 5) goes without a forecast;
    # row 5 itself gets one (it is then skipped when scored, having no actual value).
    assert made.tolist() == [True, True, True, False, *([True] * 13)]
    assert errors.count == 0


def test_with_the_skip_policy_targets_come_back_once_the_gap_leaves_the_lookback() -> None:
    values = np.arange(20, dtype=np.float64).reshape(-1, 1)
    values[5] = np.nan
    plan = _naive_plan(gaps="skip", lookback=3)
    result, _ = custom_forecasts(BatchRows(values, 3, 17, (1,)), plan, model_factory(plan.spec))
    made = ~np.isnan(result.mean[0][:, 0])
    # Origin 5 is the gap, origin 6 holds it between two observations (rows 4..6); origin 7's window (rows 5..7)
    # starts after it, and forecasts resume.
    assert made.tolist() == [True, True, True, False, False, *([True] * 12)]


def test_a_model_that_raises_skips_its_targets_and_is_counted() -> None:
    values = np.arange(10, dtype=np.float64).reshape(-1, 1)
    plan = _naive_plan()

    class Failing:
        def forecast(self, y: Any, h: int) -> dict[str, Any]:
            raise RuntimeError("cannot fit this one")

    result, errors = custom_forecasts(BatchRows(values, 5, 5, (1,)), plan, Failing)
    assert np.isnan(result.mean[0]).all()
    assert (errors.count, errors.first) == (5, "RuntimeError: cannot fit this one")


def test_refit_points_follow_the_run_wide_origin_index() -> None:
    fits: list[int] = []

    class Last:
        def fit(self, y: Any) -> Any:
            fits.append(len(y))
            return self

        def forward(self, y: Any, h: int) -> dict[str, Any]:
            return {"mean": np.repeat(y[-1], h)}

    values = np.arange(12, dtype=np.float64).reshape(-1, 1)
    plan = _naive_plan(refitEvery=4)
    # Row 0 has origin index 2: refits happen at rows 2, 6 and 10 (indices 4, 8 and 12), fitting on 3, 7, 11 rows.
    # Origins 0 and 1 belong to the refit point at row -2, before the data: they are skipped, not refitted.
    result, errors = custom_forecasts(BatchRows(values, 1, 11, (1,), origin_index=2), plan, Last)
    assert fits == [3, 7, 11]
    assert np.isnan(result.mean[0][:2, 0]).all()
    assert errors.count == 0


# -- scoring --------------------------------------------------------------------------------------------------------


def test_the_winkler_score_is_the_width_plus_the_scaled_miss() -> None:
    actual = np.array([5.0, 0.0, 12.0])
    lower, upper = np.full(3, 2.0), np.full(3, 10.0)
    # alpha = 0.2 at 80%: a miss by d costs 2 d / 0.2 = 10 d on top of the width 8.
    np.testing.assert_allclose(winkler_scores(actual, lower, upper, 80), [8.0, 28.0, 28.0])
    n, covered, total = interval_scores(
        actual[:, None], lower[:, None], upper[:, None], 80, np.array([[True], [True], [False]])
    )
    assert (n.tolist(), covered.tolist(), total.tolist()) == ([2], [1], [36.0])


def test_an_actual_on_a_bound_is_covered_and_costs_only_the_width() -> None:
    actual = np.array([[2.0], [10.0], [1.9], [10.1]])
    lower, upper = np.full((4, 1), 2.0), np.full((4, 1), 10.0)
    n, covered, total = interval_scores(actual, lower, upper, 80, np.ones((4, 1), dtype=bool))
    assert (n.tolist(), covered.tolist()) == ([4], [2])
    assert total[0] == pytest.approx(4 * 8.0 + 10 * (0.1 + 0.1), rel=1e-12)


def test_forecast_set_levels_are_the_sorted_levels_of_its_bounds() -> None:
    block = [np.zeros((3, 1))]
    assert ForecastSet(block, {95: block, 80: block}, {80: block, 95: block}).levels == (80, 95)
    assert ForecastSet(block).levels == ()


@pytest.mark.parametrize(
    ("lower", "upper", "message"),
    [
        ({80: 1}, {95: 1}, "interval levels differ: lower [80], upper [95]"),
        ({80: 1, 95: 1}, {95: 1}, "interval levels differ: lower [80, 95], upper [95]"),
        ({80: 2}, {80: 1}, "interval bounds need one array per horizon, like the mean"),
        ({80: 1}, {80: 0}, "interval bounds need one array per horizon, like the mean"),
    ],
)
def test_a_forecast_set_needs_both_bounds_at_every_level_for_every_horizon(
    lower: dict[int, int], upper: dict[int, int], message: str
) -> None:
    def bounds(horizons: int) -> list[np.ndarray]:
        return [np.zeros((3, 1))] * horizons

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ForecastSet(bounds(1), {lv: bounds(h) for lv, h in lower.items()}, {lv: bounds(h) for lv, h in upper.items()})


@pytest.mark.parametrize(
    ("mean", "lower", "upper", "shapes"),
    [
        ([(3, 1)], [(3, 2)], [(3, 2)], "[(3, 1), (3, 2)]"),  # the bounds agree with each other, not with the mean
        ([(3, 2)], [(3, 2)], [(4, 2)], "[(3, 2), (4, 2)]"),
        ([(3, 1), (5, 1)], [], [], "[(3, 1), (5, 1)]"),  # one horizon's targets differ from another's
    ],
)
def test_a_forecast_set_needs_one_shape_for_its_mean_and_bounds(
    mean: list[tuple[int, int]], lower: list[tuple[int, int]], upper: list[tuple[int, int]], shapes: str
) -> None:
    message = f"forecast arrays must share one (targets, series) shape, got {shapes}"
    levels = {80: 0} if lower else {}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ForecastSet(
            [np.zeros(shape) for shape in mean],
            {level: [np.zeros(shape) for shape in lower] for level in levels},
            {level: [np.zeros(shape) for shape in upper] for level in levels},
        )


def test_scoring_forecasts_made_elsewhere_equals_the_engines_own_scores() -> None:
    rng = np.random.default_rng(4)
    values = np.cumsum(rng.normal(size=(60, 3)), axis=0)
    values[17, 1] = np.nan
    config = EngineConfig(models=("drift",), horizons=(1, 3), window_length=5)
    first, n = 20, 40
    means = [forecasts(values, np.arange(first, first + n) - h, h, "drift", config) for h in config.horizons]
    theirs = score_forecasts(values, first, config, ForecastSet(mean=means))
    ours = score_targets(values, first, config)
    np.testing.assert_array_equal(theirs.counts, ours.counts)
    np.testing.assert_allclose(theirs.sums, ours.sums, rtol=1e-12)


def test_interval_scores_land_in_the_column_of_their_level() -> None:
    values = np.arange(12, dtype=np.float64).reshape(-1, 1)
    config = EngineConfig(models=(), horizons=(1,), window_length=2)
    mean = [np.arange(5, 12, dtype=np.float64).reshape(-1, 1) - 1.0]
    lower = {95: [mean[0] - 0.5]}
    upper = {95: [mean[0] + 2.0]}
    scores = score_forecasts(values, 5, config, ForecastSet(mean, lower, upper), levels=(80, 95))
    assert scores.interval_count("n")[0, 0, 0].tolist() == [0, 7]
    assert scores.interval_count("covered")[0, 0, 0].tolist() == [0, 7]
    np.testing.assert_allclose(scores.interval_sum_array[0, 0, 0], [0.0, 7 * 2.5])


def test_scores_of_builtins_and_custom_models_join_along_the_model_axis() -> None:
    a = Scores.empty(2, 3, 1, (80,))
    b = Scores.empty(2, 1, 1, (80,))
    b.counts[..., 0] = 5
    joined = Scores.join_models([a, b])
    assert joined.counts.shape[:3] == (2, 4, 1)
    assert joined.counts[:, 3, 0, 0].tolist() == [5, 5]
    with pytest.raises(ValueError, match="different interval levels"):
        Scores.join_models([a, Scores.empty(2, 1, 1)])


# -- through a run's batches ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_with_a_custom_model() -> Any:
    from datetime import UTC, datetime

    from retrodiction.config import TrainingConfig
    from retrodiction.coordinator import ParallelTrainingCoordinator
    from retrodiction.data import DataSource
    from retrodiction.execution.task import run_batch

    config = TrainingConfig(
        source=DataSource("builtin://macrodata"),
        engine=EngineConfig(models=("naive",), horizons=(1, 2)),
        custom_models=(custom(name="sf-naive", levels=[95, 80]),),
    )
    run = ParallelTrainingCoordinator(config)
    run.prepare_training_batches(["realgdp", "cpi"], datetime(2000, 1, 1, tzinfo=UTC), datetime(2009, 1, 1, tzinfo=UTC))
    results = [run_batch(task) for task in run.tasks()]
    return run, results


def test_a_batch_result_carries_interval_scores_and_per_model_costs_through_a_checkpoint(
    run_with_a_custom_model: Any,
) -> None:
    from retrodiction.execution.task import BatchResult

    _, results = run_with_a_custom_model
    result = results[0]
    assert result.levels == (80, 95)
    assert len(result.model_seconds) == len(result.model_errors) == 2
    again = BatchResult.from_dict(result.to_dict())
    np.testing.assert_array_equal(again.scores().interval_count_array, result.scores().interval_count_array)
    np.testing.assert_array_equal(again.scores().interval_sum_array, result.scores().interval_sum_array)
    assert (again.model_seconds, again.model_errors) == (result.model_seconds, result.model_errors)


def test_the_summary_holds_intervals_for_custom_models_only_and_every_models_cost(run_with_a_custom_model: Any) -> None:
    from retrodiction.api.summary import parse_summary

    run, results = run_with_a_custom_model
    accumulator = run.make_accumulator()
    accumulator.add_all(results)
    summary = parse_summary(accumulator.summary(run.summary().run, run.config.summary_config(), len(results)).to_dict())
    by_model: dict[str, list[Any]] = {}
    for row in summary.results:
        by_model.setdefault(row.model, []).append(row)
    assert all(row.intervals == [] for row in by_model["naive"])
    for row in by_model["sf-naive"]:
        assert [interval.level for interval in row.intervals] == [80, 95]
        coverage = {interval.level: interval.coverage for interval in row.intervals}
        assert coverage[80] is not None and coverage[95] is not None and coverage[80] <= coverage[95]
    # statsforecast's Naive forecasts what the builtin naive does: the same point scores.
    for mine, theirs in zip(by_model["naive"], by_model["sf-naive"], strict=True):
        assert (mine.n, mine.successes, mine.mae) == (theirs.n, theirs.successes, pytest.approx(theirs.mae))
    assert [cost.model for cost in summary.models] == ["naive", "sf-naive"]
    assert all(cost.seconds > 0 and cost.errors == 0 for cost in summary.models)
    assert summary.config.retrodiction.custom_models[0].levels == [80, 95]


def test_a_forecast_that_is_not_finite_skips_its_origin_instead_of_poisoning_the_sums() -> None:
    values = np.arange(10, dtype=np.float64).reshape(-1, 1)
    plan = _naive_plan()

    class Diverging:
        def forecast(self, y: Any, h: int) -> dict[str, Any]:
            return {"mean": np.full(h, np.inf if len(y) % 2 else y[-1])}

    result, errors = custom_forecasts(BatchRows(values, 5, 5, (1,)), plan, Diverging)
    assert np.isfinite(result.mean[0][~np.isnan(result.mean[0])]).all()
    # Origins 4..8 see 5..9 rows: the three odd lengths diverge.
    assert errors.count == 3 and errors.first == "ValueError: the model's 'mean' holds values that are not finite"


def test_a_checkpointed_result_without_interval_levels_reads_back() -> None:
    from retrodiction.execution.task import BatchResult

    scores = Scores.empty(3, 2, 2)
    result = BatchResult(
        "b",
        ("a", "b", "c"),
        scores.counts,
        scores.sums,
        interval_counts=scores.interval_counts,
        interval_sums=scores.interval_sums,
    )
    again = BatchResult.from_dict(result.to_dict()).scores()
    assert again.interval_count_array.shape == (3, 2, 2, 0, 2)
    assert again.interval_sum_array.shape == (3, 2, 2, 0)


def test_a_process_builds_each_custom_model_once_and_never_caches_a_failure() -> None:
    from retrodiction.forecasters import cached_model_factory

    spec = custom(name="cached", statsforecast={"model": "SeasonalNaive", "params": {"season_length": 4}})
    assert cached_model_factory(spec) is cached_model_factory(custom(**spec.model_dump(by_alias=True)))
    bad = custom(name="bad", statsforecast={"model": "SeasonalNaive"})  # season_length is required
    for _ in range(2):
        with pytest.raises(DataError, match="rejects these params"):
            cached_model_factory(bad)
