"""score_targets and score_forecasts at their edges: the argument checks, calls with no or one target, targets cut
into row blocks, the values' dtype, non-finite values, and the compute time charged to each model."""

from __future__ import annotations

import itertools
import re
import time
import warnings

import numpy as np
import pytest

from retrodiction.engine import EngineConfig, ForecastSet, Scores, derive_metrics, lags, score_forecasts, score_targets

INF = np.inf


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)[:, None]


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


# A rise of 0.5 a row, then a jump: target row 5 (origin 4, y = 2) has the scale s = (|2 - 1.5| + |1.5 - 1|) / 2 = 0.5
# over w = 2 steps. Naive forecasts 2 (error 3, no direction: a miss); drift 2 + (2 - 1) / 2 = 2.5 (error 2.5, a rise).
JUMP = column(0.0, 0.5, 1.0, 1.5, 2.0, 5.0)
TWO_MODELS = EngineConfig(models=("naive", "drift"), window_length=2)


def cell(scores: Scores, field: str) -> list[int]:
    return scores.count(field)[0, :, 0].tolist()  # type: ignore[no-any-return]


def metrics_of(scores: Scores) -> dict[str, list[float]]:
    return {name: values[0, :, 0].tolist() for name, values in derive_metrics(scores).items()}


# -- one target, no target ------------------------------------------------------------------------------------------


def test_a_cell_with_exactly_one_scored_target_has_numeric_metrics() -> None:
    scores = score_targets(JUMP, 5, TWO_MODELS)

    assert cell(scores, "n") == [1, 1]
    assert metrics_of(scores) == {
        "mae": [3.0, 2.5],
        "rmse": [3.0, 2.5],
        "mase": [6.0, 5.0],
        "directional_accuracy": [0.0, 1.0],
    }


def test_a_cell_with_exactly_one_forecast_made_elsewhere_has_numeric_metrics() -> None:
    naive = ForecastSet(mean=[np.array([[2.0]])])  # the naive forecast of target 5 from origin 4

    scores = score_forecasts(JUMP, 5, TWO_MODELS, naive)

    assert cell(scores, "n") == [1]
    assert metrics_of(scores) == {"mae": [3.0], "rmse": [3.0], "mase": [6.0], "directional_accuracy": [0.0]}


@pytest.mark.parametrize(
    ("n_rows", "first_target", "n_targets"),
    [(6, 6, None), (6, 3, 0), (6, 0, 0), (0, 0, None)],
    ids=["first-target-past-the-last-row", "n_targets-0", "n_targets-0-at-row-0", "no-rows"],
)
def test_a_batch_with_zero_targets_scores_nothing_and_does_not_fail(
    n_rows: int, first_target: int, n_targets: int | None
) -> None:
    values = np.arange(n_rows * 2, dtype=np.float64).reshape(n_rows, 2)
    seconds: dict[str, float] = {}

    scores = score_targets(values, first_target, TWO_MODELS, n_targets, model_seconds=seconds)

    assert scores.counts.shape == (2, 2, 1, 6)
    assert not scores.counts.any()
    assert not scores.sums.any()
    assert seconds == {}  # no model computed anything, so none is charged


def test_forecasts_of_zero_targets_score_nothing_and_do_not_fail() -> None:
    values = np.arange(12, dtype=np.float64).reshape(6, 2)

    scores = score_forecasts(values, 6, TWO_MODELS, ForecastSet(mean=[np.empty((0, 2))]))

    assert scores.counts.shape == (2, 1, 1, 6)
    assert not scores.counts.any()
    assert not scores.sums.any()


# -- argument checks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "first_target", "n_targets", "message"),
    [
        (np.zeros(10), 0, None, "values must be a 2-D (rows, series) array, got shape (10,)"),
        (np.zeros((10, 1)), -1, None, "targets -1..9 do not lie within rows 0..9"),
        (np.zeros((10, 1)), 2, -1, "targets 2..0 do not lie within rows 0..9"),
        (np.zeros((10, 1)), 5, 6, "targets 5..10 do not lie within rows 0..9"),
        (np.zeros((10, 1)), 11, None, "targets 11..9 do not lie within rows 0..9"),
    ],
    ids=["values-1-D", "first_target-negative", "n_targets-negative", "past-the-last-row", "first_target-past-the-end"],
)
def test_score_targets_rejects_each_argument_out_of_range_with_its_message(
    values: np.ndarray, first_target: int, n_targets: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        score_targets(values, first_target, EngineConfig(models=("naive",)), n_targets)


@pytest.mark.parametrize(
    ("first_target", "forecasts", "levels", "message"),
    [
        (10, ForecastSet(mean=[]), (), "forecasts hold 0 horizon(s), the config 1"),
        (5, ForecastSet(mean=[np.zeros((2, 1))] * 2), (), "forecasts hold 2 horizon(s), the config 1"),
        (8, ForecastSet(mean=[np.zeros((3, 1))]), (), "targets 8..10 do not lie within rows 0..9"),
        (
            5,
            ForecastSet(mean=[np.zeros((2, 1))], lower={90: [np.zeros((2, 1))]}, upper={90: [np.ones((2, 1))]}),
            (80, 95),
            "interval levels [90] are not among the run's levels [80, 95]",
        ),
    ],
    ids=["no-horizon", "horizon-count", "past-the-last-row", "unknown-level"],
)
def test_score_forecasts_rejects_forecasts_that_do_not_fit_the_run_with_its_message(
    first_target: int, forecasts: ForecastSet, levels: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        score_forecasts(np.zeros((10, 1)), first_target, EngineConfig(models=("naive",)), forecasts, levels)


def test_score_forecasts_scores_only_the_targets_its_forecasts_cover() -> None:
    values = np.arange(10, dtype=np.float64)[:, None]  # steps of 1: s = 1, the naive error is 1
    naive = ForecastSet(mean=[values[3:6] - 0.0])  # targets 4, 5, 6 of rows 0..9

    scores = score_forecasts(values, 4, EngineConfig(window_length=2), naive)

    assert (scores.count("n")[0, 0, 0], scores.count("skipped")[0, 0, 0]) == (3, 0)
    assert scores.total("sum_abs_error")[0, 0, 0] == 3.0


# -- row blocks, dtypes, non-finite values --------------------------------------------------------------------------


def test_forecasts_made_elsewhere_are_scored_in_every_row_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lags, "_BLOCK_ELEMENTS", 1)  # blocks of 4 rows: targets 3..11 fall in blocks of 4, 4 and 1
    values = np.arange(12, dtype=np.float64)[:, None]
    naive = values[2:11] - 0.0  # y[t - 1] for targets t = 3..11: error 1, s = 1
    forecasts = ForecastSet(mean=[naive], lower={80: [naive - 0.5]}, upper={80: [naive + 2.0]})

    scores = score_forecasts(values, 3, EngineConfig(window_length=2), forecasts, levels=(80,))

    assert (scores.count("n")[0, 0, 0], scores.count("successes")[0, 0, 0]) == (9, 9)
    assert scores.total("sum_squared_error")[0, 0, 0] == 9.0
    # every actual t lies in [t - 1.5, t + 1]: covered, Winkler score = the width 2.5
    assert scores.interval_count("n")[0, 0, 0].tolist() == [9]
    assert scores.interval_count("covered")[0, 0, 0].tolist() == [9]
    assert scores.interval_sum_array[0, 0, 0].tolist() == [22.5]


# Falling and rising series: an unsigned difference 18 - 20 would wrap around to 254 instead of -2.
INTEGERS = np.array([[20, 1], [18, 2], [17, 4], [15, 5], [12, 8], [11, 9], [9, 12], [6, 13]])


@pytest.mark.parametrize("dtype", [np.int64, np.uint8])
def test_integer_values_are_scored_as_the_floats_they_equal(dtype: type[np.integer]) -> None:
    as_floats = INTEGERS.astype(np.float64)

    scores = score_targets(INTEGERS.astype(dtype), 3, TWO_MODELS)

    expected = score_targets(as_floats, 3, TWO_MODELS)
    np.testing.assert_array_equal(scores.counts, expected.counts)
    np.testing.assert_array_equal(scores.sums, expected.sums)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8])
def test_integer_values_are_scored_against_forecasts_made_elsewhere_as_the_floats_they_equal(
    dtype: type[np.integer],
) -> None:
    as_floats = INTEGERS.astype(np.float64)
    naive = ForecastSet(mean=[as_floats[2:7]])  # targets 3..7

    scores = score_forecasts(INTEGERS.astype(dtype), 3, TWO_MODELS, naive)

    expected = score_forecasts(as_floats, 3, TWO_MODELS, naive)
    np.testing.assert_array_equal(scores.counts, expected.counts)
    np.testing.assert_array_equal(scores.sums, expected.sums)


def test_infinite_values_are_scored_without_numpy_warnings() -> None:
    # inf - inf is NaN, an invalid operation for numpy: in the steps of the scale and in the error of a naive forecast
    values = column(0.0, 1.0, 2.0, INF, INF, 5.0, 6.0)
    config = EngineConfig(models=("naive",), window_length=2)
    forecasts = ForecastSet(mean=[values[2:6]], lower={80: [values[2:6] - 1.0]}, upper={80: [values[2:6] + INF]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_targets(values, 3, config)
        elsewhere = score_forecasts(values, 3, config, forecasts, levels=(80,))
    assert scores.count("n")[0, 0, 0] + scores.count("skipped")[0, 0, 0] == 4
    assert elsewhere.count("n")[0, 0, 0] + elsewhere.count("skipped")[0, 0, 0] == 4


def test_rows_after_the_last_target_are_never_computed_on() -> None:
    # Their one-step change would overflow, which numpy warns about: it must not be computed at all.
    values = np.vstack([np.arange(8, dtype=np.float64)[:, None], [[1e308], [-1e308]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_targets(values, 3, EngineConfig(models=("naive",), window_length=2), n_targets=5)
    assert scores.count("n")[0, 0, 0] == 5


# -- compute time ---------------------------------------------------------------------------------------------------


def test_each_model_is_charged_the_time_of_its_own_forecasts_added_to_what_it_had(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = itertools.count()
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(ticks)))  # a clock that moves 1 s per reading
    seconds = {"drift": 10.0, "ses": 1.5}

    score_targets(
        JUMP, 3, EngineConfig(models=("naive", "drift"), horizons=(1, 2), window_length=2), model_seconds=seconds
    )

    # one row block, two horizons: each model's forecasts and scores are timed twice, 1 s each
    assert seconds == {"drift": 12.0, "naive": 2.0, "ses": 1.5}
