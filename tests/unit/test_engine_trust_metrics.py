"""Bayesian trust and the metrics derived from merged Scores."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats

from retrodiction.engine import COUNT_FIELDS, SUM_FIELDS, EngineConfig, Scores, beta_trust, derive_metrics
from retrodiction.engine.metrics import _ratio


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_beta_trust_matches_scipy_beta_distribution(level: float) -> None:
    successes = np.array([0, 1, 7, 60, 1234])
    failures = np.array([0, 9, 7, 20, 3])

    mean, lower, upper = beta_trust(successes, failures, level)

    posterior = stats.beta(1 + successes, 1 + failures)
    tail = (1 - level) / 2
    np.testing.assert_allclose(mean, posterior.mean(), rtol=1e-12)
    np.testing.assert_allclose(lower, posterior.ppf(tail), rtol=1e-9)
    np.testing.assert_allclose(upper, posterior.ppf(1 - tail), rtol=1e-9)


def test_beta_trust_without_evidence_is_the_uniform_prior() -> None:
    mean, lower, upper = beta_trust(0, 0)
    assert (float(mean), float(lower), float(upper)) == pytest.approx((0.5, 0.025, 0.975), rel=1e-12)


def test_beta_trust_broadcasts_counts_of_any_shape() -> None:
    mean, lower, upper = beta_trust(np.full((2, 3, 1), 4), 6)
    assert mean.shape == lower.shape == upper.shape == (2, 3, 1)
    assert np.all(lower < mean)
    assert np.all(mean < upper)


def test_beta_trust_after_one_success_is_the_beta_2_1_posterior() -> None:
    # Beta(2, 1) has density 2x and CDF x^2: mean 2/3, quantile q at sqrt(q).
    mean, lower, upper = beta_trust(1, 0, 0.9)
    assert float(mean) == pytest.approx(2 / 3, rel=1e-15)
    assert float(lower) == pytest.approx(0.05**0.5, rel=1e-12)
    assert float(upper) == pytest.approx(0.95**0.5, rel=1e-12)


def test_beta_trust_widens_single_precision_counts_before_adding_the_prior() -> None:
    # 2^24 + 1 has no float32: adding the prior in float32 would lose it. Beta(a, 1) has CDF x^a, so its quantile
    # q is q^(1/a); Beta(1, b) has CDF 1 - (1 - x)^b, so its quantile q is 1 - (1 - q)^(1/b).
    count, a = np.array([2.0**24], dtype=np.float32), 2**24 + 1
    mean, lower, upper = beta_trust(count, 0)
    assert mean[0] == a / (a + 1)
    assert lower[0] == pytest.approx(0.025 ** (1 / a), rel=1e-15)
    assert upper[0] == pytest.approx(0.975 ** (1 / a), rel=1e-15)
    mean, lower, upper = beta_trust(0, count)
    assert mean[0] == 1 / (a + 1)
    assert lower[0] == pytest.approx(-np.expm1(np.log(0.975) / a), rel=1e-9)
    assert upper[0] == pytest.approx(-np.expm1(np.log(0.025) / a), rel=1e-9)


@pytest.mark.parametrize(("successes", "failures"), [(-1, 0), (0, -2), (3, [2, -2])])
def test_beta_trust_rejects_negative_counts_with_a_message(successes: object, failures: object) -> None:
    with pytest.raises(ValueError, match=r"^successes and failures must be >= 0$"):
        beta_trust(successes, failures)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [0.0, 1.0, 95.0])
def test_beta_trust_rejects_a_level_outside_0_1_with_a_message(level: float) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(f'level must be in (0, 1), got {level!r}')}$"):
        beta_trust(1, 1, level)


def scores_with(cells: list[dict[str, float]]) -> Scores:
    config = EngineConfig(models=("naive",), horizons=tuple(range(1, len(cells) + 1)))
    scores = Scores.zeros(1, config)
    for h, cell in enumerate(cells):
        scores.counts[0, 0, h] = [cell.get(f, 0) for f in COUNT_FIELDS]
        scores.sums[0, 0, h] = [cell.get(f, 0.0) for f in SUM_FIELDS]
    return scores


def test_metrics_are_means_over_scored_targets_and_mase_over_scaled_targets() -> None:
    scores = scores_with(
        [
            {
                "n": 4,
                "n_scaled": 2,
                "direction_hits": 3,
                "sum_abs_error": 2.0,
                "sum_squared_error": 4.0,
                "sum_scaled_abs_error": 3.0,
            }
        ]
    )

    metrics = derive_metrics(scores)

    assert metrics["mae"][0, 0, 0] == 0.5
    assert metrics["rmse"][0, 0, 0] == 1.0
    assert metrics["mase"][0, 0, 0] == 1.5
    assert metrics["directional_accuracy"][0, 0, 0] == 0.75


def test_metrics_are_nan_where_no_target_was_scored() -> None:
    metrics = derive_metrics(scores_with([{"skipped": 5}, {"n": 2, "sum_abs_error": 1.0}]))

    for name in ("mae", "rmse", "mase", "directional_accuracy"):
        assert np.isnan(metrics[name][0, 0, 0]), name
    assert metrics["mae"][0, 0, 1] == 0.5
    assert np.isnan(metrics["mase"][0, 0, 1])  # scored, but every scale was 0
    assert metrics["directional_accuracy"][0, 0, 1] == 0.0


def test_a_metric_over_one_target_is_that_targets_value() -> None:
    metrics = derive_metrics(
        scores_with([{"n": 1, "n_scaled": 1, "direction_hits": 1, "sum_abs_error": 2.5, "sum_squared_error": 6.25}])
    )
    assert metrics["mae"][0, 0, 0] == 2.5
    assert metrics["rmse"][0, 0, 0] == 2.5
    assert metrics["mase"][0, 0, 0] == 0.0
    assert metrics["directional_accuracy"][0, 0, 0] == 1.0


def test_a_ratio_is_nan_wherever_its_denominator_is_zero_whatever_the_numerator() -> None:
    ratio = _ratio(np.array([3.0, 0.0, -2.0, 3.0]), np.array([0, 0, 0, 2]))
    assert np.isnan(ratio[:3]).all()
    assert ratio[3] == 1.5
