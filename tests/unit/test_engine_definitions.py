"""Tiny hand-computed cases that pin the contract's definitions (docs/architecture.md, "Engine semantics")."""

from __future__ import annotations

import re

import numpy as np
import pytest

from retrodiction.engine import MODEL_NAMES, EngineConfig, forecasts, score_targets, ses_terms, warmup_rows
from retrodiction.engine.history import model_lookback
from retrodiction.engine.models import forecast_from_history

NAN = np.nan


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)[:, None]


def one(values: np.ndarray, origin: int, horizon: int, model: str, config: EngineConfig) -> float:
    return float(forecasts(values, np.array([origin]), horizon, model, config)[0, 0])


@pytest.mark.parametrize(
    ("alpha", "expected"),
    [(0.3, 59), (0.5, 30), (1.0, 1)],  # 0.7^58 = 1.04e-9, 0.7^59 = 7.3e-10; 2^-29 = 1.9e-9, 2^-30 = 9.3e-10
)
def test_ses_terms_is_the_first_power_below_1e_minus_9(alpha: float, expected: int) -> None:
    assert ses_terms(alpha) == expected


@pytest.mark.timeout(10)  # the logarithm estimates K in one step: counting up to K = 1.9e17 would never end
@pytest.mark.parametrize("alpha", [2.0**-53, 1e-15, 1e-12, 1e-6, 0.3, 0.99, 1 - 2.0**-31, 1.0])
def test_ses_terms_is_the_smallest_k_with_a_weight_below_the_cutoff_even_for_extreme_alpha(alpha: float) -> None:
    # The logarithm's estimate is off by a few steps at alpha ~ 1e-15, and 2**-53 is the smallest alpha whose
    # 1 - alpha is below 1; 1 - 2**-31 leaves 2**-31 < 1e-9, so one term.
    k = ses_terms(alpha)
    decay = 1.0 - alpha
    assert decay**k < 1e-9
    assert k == 1 or decay ** (k - 1) >= 1e-9


def test_a_weight_exactly_at_the_cutoff_still_counts() -> None:
    decay = 10**-0.2  # 10^-0.2 rounds to a double whose 45th power is exactly the double nearest 1e-9
    assert decay**45 == 1e-9
    assert ses_terms(1.0 - decay) == 46  # (1 - alpha)^45 is not below 1e-9, so the 46th power is the first


@pytest.mark.parametrize("alpha", [0.0, -0.5, 1.5, float("nan")])
def test_ses_terms_rejects_alpha_outside_0_1(alpha: float) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(f'ses_alpha must be in (0, 1], got {alpha!r}')}$"):
        ses_terms(alpha)


def test_naive_forecast_is_the_value_at_the_origin_for_every_horizon() -> None:
    y = column(3.0, 1.0, 4.0, 1.0, 5.0)
    assert one(y, 2, 1, "naive", EngineConfig()) == 4.0
    assert one(y, 2, 7, "naive", EngineConfig()) == 4.0


@pytest.mark.parametrize(
    ("horizon", "row_read"),
    # m = 4, origin t = 12: index t + h - 4*ceil(h/4)
    [(1, 9), (3, 11), (4, 12), (5, 9), (8, 12), (9, 9)],
)
def test_seasonal_naive_reads_the_latest_value_of_the_same_season(horizon: int, row_read: int) -> None:
    y = column(*(10.0 * i for i in range(13)))
    assert one(y, 12, horizon, "seasonal_naive", EngineConfig(season_length=4)) == 10.0 * row_read


def test_window_average_is_the_mean_of_the_last_w_values() -> None:
    y = column(100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert one(y, 6, 1, "window_average", EngineConfig(window_length=3)) == 5.0  # (6 + 5 + 4) / 3


def test_drift_extends_the_slope_over_the_last_l_steps_by_h() -> None:
    y = column(0.0, 1.0, 4.0, 9.0, 16.0)
    # 16 + 3 * (16 - 4) / 2
    assert one(y, 4, 3, "drift", EngineConfig(window_length=2)) == 34.0


@pytest.mark.parametrize("age", [0, 2, 29, 30])
def test_ses_weights_decay_geometrically_and_stop_after_k_terms(age: int) -> None:
    alpha = 0.5  # K = 30 terms: weights 0.5^(j+1), summing to 1 - 2^-30
    y = np.zeros((40, 1))
    y[39 - age] = 1.0  # an impulse `age` rows before the origin reveals that row's weight
    expected = 0.5 ** (age + 1) / (1 - 2.0**-30) if age < 30 else 0.0
    assert one(y, 39, 1, "ses", EngineConfig(ses_alpha=alpha)) == pytest.approx(expected, rel=1e-14)


def test_ses_with_alpha_one_is_naive() -> None:
    y = column(NAN, 2.0, 7.0)  # K = 1, so the NaN two rows back is not an input
    assert one(y, 2, 1, "ses", EngineConfig(ses_alpha=1.0)) == 7.0


def test_forecast_is_nan_when_an_input_is_nan_or_before_the_first_row() -> None:
    y = column(1.0, NAN, 3.0, 4.0)
    config = EngineConfig(window_length=2)
    assert np.isnan(one(y, 2, 1, "window_average", config))  # reads row 1
    assert one(y, 3, 1, "window_average", config) == 3.5
    assert np.isnan(one(y, 1, 1, "drift", config))  # reads row -1
    assert np.isnan(one(y, -1, 1, "naive", config))


def test_the_first_rows_are_history_enough_for_naive_and_window_average() -> None:
    y = column(3.0, 1.0, 4.0, 1.0)
    config = EngineConfig(window_length=3)
    assert one(y, 0, 1, "naive", config) == 3.0  # reads y[0] only
    assert one(y, 2, 1, "window_average", config) == pytest.approx(8.0 / 3.0, rel=1e-15)  # rows 0..2
    assert np.isnan(one(y, 1, 1, "window_average", config))  # would read row -1


def test_forecasts_read_integer_values_as_floats() -> None:
    y = np.array([[0], [1], [4], [9], [16]])
    result = forecasts(y, np.array([4, 3]), 3, "drift", EngineConfig(window_length=2))
    assert result.dtype == np.float64
    assert result[:, 0].tolist() == [34.0, 21.0]  # 16 + 3 * (16 - 4) / 2, 9 + 3 * (9 - 1) / 2


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_a_forecast_is_a_new_array_never_a_view_of_the_history(model: str) -> None:
    # The history blocks are read-only views of the caller's values; a caller may write into a forecast.
    values = np.arange(100.0).reshape(50, 2)
    origins = slice(45, 50)

    def history(j: int) -> np.ndarray:
        return values[origins.start - j : origins.stop - j]

    config = EngineConfig(season_length=3, window_length=4, ses_alpha=0.9)
    forecast = forecast_from_history(history, 2, model, config)
    assert forecast.shape == (5, 2)
    assert not np.shares_memory(forecast, values)


def test_an_unknown_model_is_named_with_the_known_ones() -> None:
    message = "unknown model 'arima'; known models are ['naive', 'seasonal_naive', 'window_average', 'drift', 'ses']"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        forecast_from_history(lambda j: np.zeros((1, 1)), 1, "arima", EngineConfig())
    with pytest.raises(ValueError, match=r"^unknown model 'arima'$"):
        model_lookback("arima", 1, EngineConfig())


def counts_of(values: np.ndarray, first_target: int, config: EngineConfig) -> dict[str, int]:
    scores = score_targets(values, first_target, config)
    return {
        field: int(scores.count(field)[0, 0, 0])
        for field in ("n", "skipped", "successes", "failures", "direction_hits", "n_scaled")
    }


def test_success_requires_error_within_tolerance_times_scale() -> None:
    # target row 9, origin 8: naive forecasts 8, error 2; s = (|8 - 7| + |7 - 6|) / 2 = 1
    y = column(0, 1, 2, 3, 4, 5, 6, 7, 8, 10)
    failing = score_targets(y, 9, EngineConfig(models=("naive",), window_length=2, tolerance=1.9))
    passing = score_targets(y, 9, EngineConfig(models=("naive",), window_length=2, tolerance=2.0))
    assert (failing.count("successes")[0, 0, 0], failing.count("failures")[0, 0, 0]) == (0, 1)
    assert (passing.count("successes")[0, 0, 0], passing.count("failures")[0, 0, 0]) == (1, 0)
    assert passing.total("sum_abs_error")[0, 0, 0] == 2.0
    assert passing.total("sum_squared_error")[0, 0, 0] == 4.0
    assert passing.total("sum_scaled_abs_error")[0, 0, 0] == 2.0


def test_direction_hit_compares_signs_with_sign_of_zero_being_zero() -> None:
    rising = column(0, 1, 2, 3, 4, 5, 6, 7, 8, 10)
    flat = column(5, 5, 5, 5, 5)
    drift = EngineConfig(models=("drift",), window_length=2)
    naive = EngineConfig(models=("naive",), window_length=2)
    assert counts_of(rising, 9, drift)["direction_hits"] == 1  # forecast 9 > 8 and actual 10 > 8
    assert counts_of(rising, 9, naive)["direction_hits"] == 0  # forecast change 0, actual change +2
    assert counts_of(flat, 4, naive)["direction_hits"] == 1  # both changes are 0


def test_zero_scale_succeeds_only_on_an_exact_forecast_and_is_left_out_of_mase() -> None:
    config = EngineConfig(models=("naive",), window_length=3)
    exact = counts_of(column(5, 5, 5, 5, 5), 4, config)
    missed = counts_of(column(5, 5, 5, 5, 6), 4, config)
    assert exact == {"n": 1, "skipped": 0, "successes": 1, "failures": 0, "direction_hits": 1, "n_scaled": 0}
    assert missed["successes"] == 0
    assert missed["failures"] == 1
    assert missed["n_scaled"] == 0
    scores = score_targets(column(5, 5, 5, 5, 6), 4, config)
    assert scores.total("sum_scaled_abs_error")[0, 0, 0] == 0.0
    assert scores.total("sum_abs_error")[0, 0, 0] == 1.0


def test_target_is_skipped_when_its_scale_window_holds_a_nan() -> None:
    # naive itself only needs rows 3 and 4, but s over w = 3 reads rows 0..3
    y = column(NAN, 1, 2, 3, 4)
    assert counts_of(y, 4, EngineConfig(models=("naive",), window_length=3))["skipped"] == 1
    assert counts_of(y, 4, EngineConfig(models=("naive",), window_length=2))["skipped"] == 0


def test_targets_without_enough_history_are_skipped_not_rejected() -> None:
    y = column(*range(10))
    counts = counts_of(y, 0, EngineConfig(models=("naive",), window_length=2))
    assert counts["n"] + counts["skipped"] == 10
    assert counts["skipped"] == 3  # target rows 0, 1, 2: origins -1, 0, 1 lack y[t - 2]


@pytest.mark.parametrize("horizon", [1, 6])
def test_each_model_looks_back_exactly_as_far_as_the_rows_its_rule_reads(horizon: int) -> None:
    config = EngineConfig(season_length=4, window_length=5, ses_alpha=0.5)
    assert model_lookback("naive", horizon, config) == 0  # y[t]
    assert model_lookback("window_average", horizon, config) == 4  # y[t - w + 1] .. y[t]
    assert model_lookback("drift", horizon, config) == 5  # y[t - w] and y[t]
    assert model_lookback("ses", horizon, config) == 29  # K = 30 terms at alpha 0.5: y[t - 29] .. y[t]
    # seasonal naive reads y[t + h - 4 * ceil(h / 4)]: 3 rows back at h = 1, 2 rows back at h = 6
    assert model_lookback("seasonal_naive", horizon, config) == {1: 3, 6: 2}[horizon]


def test_warmup_rows_covers_the_longest_lookback_over_horizons() -> None:
    assert warmup_rows(EngineConfig()) == 59  # h = 1 + SES's K - 1 = 58 rows
    assert warmup_rows(EngineConfig(models=("naive",), window_length=8)) == 9  # h = 1 + scale window 8
    assert warmup_rows(EngineConfig(models=("window_average",), window_length=8)) == 9  # its 7 rows < the scale's 8
    assert warmup_rows(EngineConfig(models=("drift",), horizons=(2,), window_length=8)) == 10  # 2 + 8
    # seasonal naive at h = 1 with m = 12 reaches 11 rows back; at h = 12 it reads y[t]
    assert warmup_rows(EngineConfig(models=("seasonal_naive",), season_length=12, window_length=2)) == 12
    assert (
        warmup_rows(EngineConfig(models=("seasonal_naive",), horizons=(12,), season_length=12, window_length=2)) == 14
    )


@pytest.mark.parametrize(
    "config",
    [
        EngineConfig(),
        EngineConfig(horizons=(1, 5, 9), season_length=4, window_length=3, ses_alpha=0.6),
        EngineConfig(models=("seasonal_naive", "drift"), horizons=(2, 3), season_length=7, window_length=5),
    ],
)
def test_warmup_rows_is_exactly_the_history_needed_to_score_every_target(config: EngineConfig) -> None:
    values = np.random.default_rng(0).normal(size=(warmup_rows(config) + 5, 2))
    warmup = warmup_rows(config)
    enough = score_targets(values, warmup, config)
    one_short = score_targets(values[1:], warmup - 1, config)
    assert enough.count("skipped").sum() == 0
    assert one_short.count("skipped").sum() > 0


@pytest.mark.parametrize("alpha", [1e-17, 2.0**-54])
def test_an_alpha_so_small_that_1_minus_alpha_rounds_to_1_is_rejected(alpha: float) -> None:
    # No power of 1.0 falls below 1e-9: SES would have no finite look-back.
    message = f"ses_alpha {alpha!r} is too small: 1 - ses_alpha rounds to 1, so SES weights never decay"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ses_terms(alpha)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        EngineConfig(ses_alpha=alpha)
