"""Scores arithmetic and EngineConfig validation."""

from __future__ import annotations

import pickle
import re
from typing import get_args

import numpy as np
import pytest

from retrodiction.api.crd import training_crd
from retrodiction.api.training import ALL_MODELS, ModelName
from retrodiction.engine import (
    COUNT_FIELDS,
    INTERVAL_COUNT_FIELDS,
    MODEL_NAMES,
    SUM_FIELDS,
    EngineConfig,
    Scores,
    forecasts,
)


def test_zero_scores_have_one_cell_per_variable_model_and_horizon() -> None:
    scores = Scores.zeros(3, EngineConfig(models=("naive", "ses"), horizons=(1, 2, 4)))
    assert scores.counts.shape == (3, 2, 3, len(COUNT_FIELDS))
    assert scores.sums.shape == (3, 2, 3, len(SUM_FIELDS))
    assert scores.counts.dtype == np.int64
    assert not scores.counts.any()
    assert not scores.sums.any()


def test_adding_scores_adds_every_field_elementwise() -> None:
    rng = np.random.default_rng(0)
    config = EngineConfig(models=("naive", "drift"), horizons=(1, 3))
    a, b = Scores.zeros(2, config), Scores.zeros(2, config)
    a.counts[:] = rng.integers(0, 100, a.counts.shape)
    b.counts[:] = rng.integers(0, 100, b.counts.shape)
    a.sums[:] = rng.random(a.sums.shape)
    b.sums[:] = rng.random(b.sums.shape)
    expected_counts, expected_sums = a.counts.copy() + b.counts, a.sums.copy() + b.sums

    total = a + b

    np.testing.assert_array_equal(total.counts, expected_counts)
    np.testing.assert_array_equal(total.sums, expected_sums)
    np.testing.assert_array_equal(total.count("successes"), a.count("successes") + b.count("successes"))


def test_adding_scores_of_different_shapes_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot add"):
        _ = Scores.zeros(2, EngineConfig()) + Scores.zeros(3, EngineConfig())


def test_count_and_total_select_one_named_field() -> None:
    scores = Scores.zeros(1, EngineConfig(models=("naive",)))
    scores.counts[0, 0, 0, COUNT_FIELDS.index("direction_hits")] = 7
    scores.sums[0, 0, 0, SUM_FIELDS.index("sum_squared_error")] = 2.5
    assert scores.count("direction_hits").shape == (1, 1, 1)
    assert scores.count("direction_hits")[0, 0, 0] == 7
    assert scores.count("n")[0, 0, 0] == 0
    assert scores.total("sum_squared_error")[0, 0, 0] == 2.5
    with pytest.raises(KeyError, match="unknown field"):
        scores.count("mae")


def test_scores_survive_pickling_for_transport_between_processes() -> None:
    scores = Scores.zeros(2, EngineConfig())
    scores.counts[1, 2, 0, 0] = 5
    restored = pickle.loads(pickle.dumps(scores))
    np.testing.assert_array_equal(restored.counts, scores.counts)


def test_scores_reject_arrays_without_the_field_axis() -> None:
    with pytest.raises(ValueError, match="counts must have shape"):
        Scores(counts=np.zeros((1, 1, 1), dtype=np.int64), sums=np.zeros((1, 1, 1, len(SUM_FIELDS))))


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def test_scores_built_from_plain_lists_hold_int64_counts_and_float64_sums() -> None:
    # A checkpoint reads its scores back from JSON lists: counts stay integers whatever type the numbers came as.
    scores = Scores(
        counts=[[[[3.0, 1.0, 2.0, 1.0, 2.0, 3.0]]]],  # type: ignore[arg-type]
        sums=[[[[4, 6, 2]]]],  # type: ignore[arg-type]
        levels=[80.0],  # type: ignore[arg-type]
        interval_counts=[[[[[3.0, 2.0]]]]],  # type: ignore[arg-type]
        interval_sums=[[[[7]]]],  # type: ignore[arg-type]
    )
    assert scores.counts.dtype == scores.interval_count_array.dtype == np.int64
    assert scores.sums.dtype == scores.interval_sum_array.dtype == np.float64
    assert scores.levels == (80,)
    assert scores.counts.tolist() == [[[[3, 1, 2, 1, 2, 3]]]]
    assert scores.sums.tolist() == [[[[4.0, 6.0, 2.0]]]]
    assert scores.interval_count_array.tolist() == [[[[[3, 2]]]]]
    assert scores.interval_sum_array.tolist() == [[[[7.0]]]]


def test_scores_without_interval_scores_hold_zeros_of_the_interval_dtypes() -> None:
    scores = Scores.empty(2, 1, 1, (80, 95))
    assert scores.interval_count_array.shape == (2, 1, 1, 2, len(INTERVAL_COUNT_FIELDS))
    assert scores.interval_count_array.dtype == np.int64
    assert scores.interval_sum_array.shape == (2, 1, 1, 2)
    assert scores.interval_sum_array.dtype == np.float64
    assert not scores.interval_count_array.any()
    assert not scores.interval_sum_array.any()


ONE_CELL = {"counts": np.zeros((1, 1, 1, len(COUNT_FIELDS))), "sums": np.zeros((1, 1, 1, len(SUM_FIELDS)))}


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (ONE_CELL | {"counts": np.zeros((1, 1, 1, 5))}, "counts must have shape (V, M, H, 6), got (1, 1, 1, 5)"),
        (ONE_CELL | {"sums": np.zeros((1, 1, 1, 2))}, "sums must have shape (1, 1, 1, 3), got (1, 1, 1, 2)"),
        (
            ONE_CELL | {"levels": (80,), "interval_counts": np.zeros((1, 1, 1, 2))},
            "interval scores must have shape (1, 1, 1, 1, 2), got (1, 1, 1, 2)",
        ),
        (
            ONE_CELL | {"levels": (80,), "interval_sums": np.zeros((1, 1, 1))},
            "interval scores must have shape (1, 1, 1, 1), got (1, 1, 1)",
        ),
    ],
    ids=["counts", "sums", "interval-counts", "interval-sums"],
)
def test_scores_reject_an_array_of_the_wrong_shape_naming_the_shape_expected(
    arrays: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        Scores(**arrays)  # type: ignore[arg-type]


def test_adding_scores_adds_their_interval_scores_and_keeps_their_levels() -> None:
    a, b = Scores.empty(1, 1, 1, (80, 95)), Scores.empty(1, 1, 1, (80, 95))
    a.interval_count_array[0, 0, 0] = [[4, 3], [4, 4]]
    b.interval_count_array[0, 0, 0] = [[2, 0], [2, 1]]
    a.interval_sum_array[0, 0, 0] = [6.5, 9.0]
    b.interval_sum_array[0, 0, 0] = [1.5, 2.25]

    total = a + b

    assert total.levels == (80, 95)
    assert total.interval_count_array[0, 0, 0].tolist() == [[6, 3], [6, 5]]
    assert total.interval_sum_array[0, 0, 0].tolist() == [8.0, 11.25]


def test_adding_scores_of_other_levels_is_an_error_naming_both_shapes_and_levels() -> None:
    message = "cannot add Scores of shapes (2, 1, 1) (levels [80]) and (2, 1, 1) (levels [])"
    with pytest.raises(ValueError, match=exactly(message)):
        _ = Scores.empty(2, 1, 1, (80,)) + Scores.empty(2, 1, 1)


def test_add_at_adds_a_part_into_the_rows_of_its_variables_with_its_interval_scores() -> None:
    total = Scores.empty(3, 1, 1, (80,))
    total.counts[2, 0, 0, 0] = 1
    total.interval_count_array[2, 0, 0, 0] = [1, 1]
    total.interval_sum_array[2, 0, 0, 0] = 2.0
    part = Scores.empty(2, 1, 1, (80,))
    part.counts[:, 0, 0, 0] = [4, 5]
    part.sums[:, 0, 0, 0] = [0.5, 1.0]
    part.interval_count_array[:, 0, 0, 0] = [[4, 3], [5, 0]]
    part.interval_sum_array[:, 0, 0, 0] = [1.5, 2.5]

    total.add_at(np.array([2, 0]), part)

    assert total.count("n")[:, 0, 0].tolist() == [5, 0, 5]
    assert total.total("sum_abs_error")[:, 0, 0].tolist() == [1.0, 0.0, 0.5]
    assert total.interval_count_array[:, 0, 0, 0].tolist() == [[5, 0], [0, 0], [5, 4]]
    assert total.interval_sum_array[:, 0, 0, 0].tolist() == [2.5, 0.0, 3.5]


def test_add_at_refuses_a_part_of_other_levels_naming_both() -> None:
    with pytest.raises(ValueError, match=exactly("cannot add Scores of levels [95] into levels [80]")):
        Scores.empty(1, 1, 1, (80,)).add_at(np.array([0]), Scores.empty(1, 1, 1, (95,)))


def test_joining_models_keeps_each_parts_interval_scores() -> None:
    a, b = Scores.empty(1, 1, 1, (80,)), Scores.empty(1, 2, 1, (80,))
    a.interval_count_array[0, 0, 0, 0] = [3, 2]
    b.interval_count_array[0, :, 0, 0] = [[4, 4], [1, 0]]
    a.interval_sum_array[0, 0, 0, 0] = 0.5
    b.interval_sum_array[0, :, 0, 0] = [2.0, 7.5]

    joined = Scores.join_models([a, b])

    assert joined.levels == (80,)
    assert joined.interval_count_array[0, :, 0, 0].tolist() == [[3, 2], [4, 4], [1, 0]]
    assert joined.interval_sum_array[0, :, 0, 0].tolist() == [0.5, 2.0, 7.5]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], "join_models needs at least one Scores"),
        ([Scores.empty(1, 1, 1, (80,)), Scores.empty(1, 1, 1)], "cannot join Scores of different interval levels"),
    ],
    ids=["none", "other-levels"],
)
def test_joining_models_refuses_no_parts_or_parts_of_other_levels(parts: list[Scores], message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        Scores.join_models(parts)


def test_default_config_runs_every_model_at_horizon_one() -> None:
    config = EngineConfig()
    assert config.models == MODEL_NAMES
    assert config.horizons == (1,)


def test_the_engine_and_the_api_name_the_same_models_in_the_same_order() -> None:
    # Two lists because the API (imported by the operator) must not import the engine (numpy); this keeps them one.
    assert get_args(ModelName) == ALL_MODELS == MODEL_NAMES
    spec = training_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert tuple(spec["properties"]["retrodiction"]["properties"]["models"]["items"]["enum"]) == MODEL_NAMES


def test_config_accepts_lists_and_stays_hashable() -> None:
    config = EngineConfig(models=["naive", "ses"], horizons=[2, 1])  # type: ignore[arg-type]
    assert config.models == ("naive", "ses")
    assert config.horizons == (2, 1)
    assert hash(config) == hash(EngineConfig(models=("naive", "ses"), horizons=(2, 1)))


def test_config_turns_numpy_horizons_into_a_tuple_of_python_ints() -> None:
    config = EngineConfig(horizons=np.array([3, 1]))  # type: ignore[arg-type]
    assert config.horizons == (3, 1)
    assert [type(h) for h in config.horizons] == [int, int]
    assert config == EngineConfig(horizons=(3, 1))


def test_config_accepts_the_smallest_valid_values() -> None:
    config = EngineConfig(season_length=1, window_length=1, ses_alpha=1.0, tolerance=0.0)
    assert (config.season_length, config.window_length, config.ses_alpha, config.tolerance) == (1, 1, 1.0, 0.0)
    assert EngineConfig(tolerance=0.5).tolerance == 0.5


KNOWN = "['naive', 'seasonal_naive', 'window_average', 'drift', 'ses']"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("models", ("naive", "arima"), f"models: unknown model(s) ['arima']; known models are {KNOWN}"),
        ("models", ("naive", "naive"), "models must not repeat a model, got ['naive', 'naive']"),
        ("horizons", (0,), "horizons must be integers >= 1, got [0]"),
        ("horizons", (1, 1), "horizons must not repeat a horizon, got [1, 1]"),
        ("horizons", (), "horizons must hold at least one horizon"),
        ("horizons", (2, 1.5, True), "horizons must be integers >= 1, got [1.5, True]"),
        ("season_length", 0, "season_length must be an integer >= 1, got 0"),
        ("window_length", 0, "window_length must be an integer >= 1, got 0"),
        ("window_length", 2.0, "window_length must be an integer >= 1, got 2.0"),
        ("ses_alpha", 0.0, "ses_alpha must be in (0, 1], got 0.0"),
        ("ses_alpha", 1.2, "ses_alpha must be in (0, 1], got 1.2"),
        ("ses_alpha", "0.3", "ses_alpha must be in (0, 1], got '0.3'"),
        ("tolerance", -0.1, "tolerance must be a finite number >= 0, got -0.1"),
        ("tolerance", float("inf"), "tolerance must be a finite number >= 0, got inf"),
    ],
)
def test_invalid_config_is_rejected_naming_the_field_and_the_problem(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        EngineConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "arima"}, f"unknown model 'arima'; known models are {KNOWN}"),
        ({"horizon": 0}, "horizon must be an integer >= 1, got 0"),
        ({"horizon": True}, "horizon must be an integer >= 1, got True"),
        ({"horizon": 1.5}, "horizon must be an integer >= 1, got 1.5"),
        ({"origins": np.array([0.0, 1.0])}, "origins must be integer row indices, got dtype float64"),
        ({"origins": np.array([[5]])}, "origins must be a 1-D array of row indices, got shape (1, 1)"),
        ({"origins": np.array([3, 10, 4])}, "origin 10 is past the last row (9)"),
        ({"values": np.zeros(10)}, "values must be a 2-D (rows, series) array, got shape (10,)"),
    ],
)
def test_forecasts_rejects_malformed_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "values": np.zeros((10, 2)),
        "origins": np.array([5]),
        "horizon": 1,
        "model": "naive",
        "config": EngineConfig(),
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=exactly(message)):
        forecasts(**arguments)  # type: ignore[arg-type]
