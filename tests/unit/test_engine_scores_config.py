"""Scores arithmetic and EngineConfig validation."""

from __future__ import annotations

import pickle
from typing import get_args

import numpy as np
import pytest

from retrodiction.api.crd import training_crd
from retrodiction.api.training import ALL_MODELS, ModelName
from retrodiction.engine import COUNT_FIELDS, MODEL_NAMES, SUM_FIELDS, EngineConfig, Scores, forecasts


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


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("models", ("naive", "arima")),
        ("models", ("naive", "naive")),
        ("horizons", (0,)),
        ("horizons", (1, 1)),
        ("horizons", ()),
        ("horizons", (1.5,)),
        ("season_length", 0),
        ("window_length", 0),
        ("window_length", 2.0),
        ("ses_alpha", 0.0),
        ("ses_alpha", 1.2),
        ("tolerance", -0.1),
        ("tolerance", float("inf")),
    ],
)
def test_invalid_config_is_rejected_with_the_field_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        EngineConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "arima"}, "unknown model"),
        ({"horizon": 0}, "horizon"),
        ({"origins": np.array([0.0, 1.0])}, "origins"),
        ({"origins": np.array([10])}, "past the last row"),
        ({"values": np.zeros(10)}, "2-D"),
    ],
)
def test_forecasts_rejects_malformed_arguments(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {
        "values": np.zeros((10, 2)),
        "origins": np.array([5]),
        "horizon": 1,
        "model": "naive",
        "config": EngineConfig(),
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        forecasts(**arguments)  # type: ignore[arg-type]
