"""Bayesian trust and the metrics derived from merged Scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from retrodiction.engine import COUNT_FIELDS, SUM_FIELDS, EngineConfig, Scores, beta_trust, derive_metrics


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


@pytest.mark.parametrize(("successes", "failures", "level"), [(-1, 0, 0.95), (0, -2, 0.95), (1, 1, 1.0), (1, 1, 0.0)])
def test_beta_trust_rejects_negative_counts_and_levels_outside_0_1(successes: int, failures: int, level: float) -> None:
    with pytest.raises(ValueError, match=r"successes|level"):
        beta_trust(successes, failures, level)


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
