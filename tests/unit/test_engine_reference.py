"""The engine agrees with the slow reference implementation on awkward random data."""

from __future__ import annotations

import numpy as np
import pytest

from retrodiction.engine import (
    COUNT_FIELDS,
    MODEL_NAMES,
    SUM_FIELDS,
    EngineConfig,
    Scores,
    forecasts,
    score_targets,
)
from tests.unit import reference_engine as ref

HORIZONS = (1, 2, 3, 5, 7)
CONFIGS = [
    EngineConfig(horizons=HORIZONS, season_length=4, window_length=3, ses_alpha=0.3),
    EngineConfig(horizons=HORIZONS, season_length=4, window_length=8, ses_alpha=1.0, tolerance=0.5),
    EngineConfig(horizons=HORIZONS, season_length=4, window_length=8, ses_alpha=0.3, tolerance=1.5),
]


def awkward_data(seed: int, n_rows: int = 90, n_series: int = 5) -> np.ndarray:
    """Random walks on a 0.1 grid with NaN holes and constant stretches (scale 0, exact ties)."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([-0.3, -0.1, 0.0, 0.1, 0.2, 0.7], size=(n_rows, n_series))
    values = np.round(np.cumsum(steps, axis=0), 1) + 10.0
    values[20:34, 1] = values[20, 1]  # longer than any scale window: s = 0 with e = 0 and e != 0
    values[50:61, 3] = 4.2
    values[rng.random((n_rows, n_series)) < 0.03] = np.nan
    values[40, :] = np.nan
    return values


def definitions(config: EngineConfig) -> ref.Definitions:
    """The engine's settings, handed to the reference as plain values (it shares no code with the engine)."""
    return ref.Definitions(
        models=config.models,
        horizons=config.horizons,
        season_length=config.season_length,
        window_length=config.window_length,
        ses_alpha=config.ses_alpha,
        tolerance=config.tolerance,
    )


def reference_scores(values: np.ndarray, first_target: int, n_targets: int, config: EngineConfig) -> Scores:
    columns = [values[:, v].tolist() for v in range(values.shape[1])]
    result = ref.score(columns, first_target, n_targets, definitions(config))
    scores = Scores.zeros(values.shape[1], config)
    for (v, model, h), cell in result.items():
        m, hi = config.models.index(model), config.horizons.index(h)
        scores.counts[v, m, hi] = [int(cell[f]) for f in COUNT_FIELDS]
        scores.sums[v, m, hi] = [cell[f] for f in SUM_FIELDS]
    return scores


@pytest.mark.parametrize("config", CONFIGS, ids=["w3-a0.3", "w8-a1.0-tol0.5", "w8-a0.3-tol1.5"])
def test_scores_equal_reference_including_targets_without_full_history(config: EngineConfig) -> None:
    values = awkward_data(seed=1)
    expected = reference_scores(values, 0, len(values), config)

    actual = score_targets(values, 0, config)

    np.testing.assert_array_equal(actual.counts, expected.counts)
    np.testing.assert_allclose(actual.sums, expected.sums, rtol=1e-9, atol=0)


def test_reference_data_exercises_every_branch() -> None:
    """Guards the comparison above against data that would make it vacuous."""
    config = CONFIGS[0]
    scores = score_targets(awkward_data(seed=1), 0, config)
    for field in ("n", "skipped", "successes", "failures", "direction_hits"):
        assert scores.count(field).sum() > 0, field
    unscaled = scores.count("n") - scores.count("n_scaled")
    assert unscaled.sum() > 0  # some targets have s = 0


def test_scores_of_a_target_subrange_equal_reference() -> None:
    config = CONFIGS[2]
    values = awkward_data(seed=2)

    actual = score_targets(values, 70, config, n_targets=12)

    expected = reference_scores(values, 70, 12, config)
    np.testing.assert_array_equal(actual.counts, expected.counts)
    np.testing.assert_allclose(actual.sums, expected.sums, rtol=1e-9, atol=0)


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("horizon", HORIZONS)
def test_forecasts_equal_reference_for_any_origins(model: str, horizon: int) -> None:
    config = CONFIGS[0]
    values = awkward_data(seed=3, n_rows=80)
    # Unordered, repeated and negative origins take the gather path; NaN where history is missing.
    origins = np.array([79, 3, -2, 60, 60, 0, 41, 12, 75], dtype=np.int64)

    actual = forecasts(values, origins, horizon, model, config)

    expected = np.array(
        [
            [
                ref.forecast(values[:, v].tolist(), int(t), horizon, model, definitions(config)) if t >= 0 else None
                for v in range(values.shape[1])
            ]
            for t in origins
        ],
        dtype=np.float64,
    )
    np.testing.assert_array_equal(actual, expected)  # None became NaN; NaN == NaN here


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_forecasts_for_consecutive_origins_equal_those_for_scattered_origins(model: str) -> None:
    config = CONFIGS[2]
    values = awkward_data(seed=4)
    consecutive = np.arange(-3, 90, dtype=np.int64)
    scattered = consecutive[::-1].copy()

    forward = forecasts(values, consecutive, 2, model, config)
    backward = forecasts(values, scattered, 2, model, config)

    np.testing.assert_array_equal(forward, backward[::-1])
