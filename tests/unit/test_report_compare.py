"""`retrodiction diff`'s arithmetic: what two summaries have in common, the means over variables, the checks."""

from typing import Any

import pytest

from retrodiction.api.summary import RetrodictionSummary, parse_summary
from retrodiction.report.compare import Bound, Checks, compare
from tests.unit.test_report_samples import make_summary


def _summary(trust: dict[tuple[str, str, int], tuple[float, float, float]], **overrides: Any) -> RetrodictionSummary:
    document = make_summary(variables=(), models=("naive",), horizons=(1,))
    results = [
        {
            "variable": variable,
            "model": model,
            "horizon": horizon,
            "n": overrides.get("n", 10),
            "skipped": 0,
            "mae": overrides.get("mae", 1.0),
            "rmse": 1.0,
            "mase": 1.0,
            "directionalAccuracy": 0.5,
            "successes": 5,
            "failures": 5,
            "trust": {"mean": mean, "lower": lower, "upper": upper},
        }
        for (variable, model, horizon), (mean, lower, upper) in trust.items()
    ]
    return parse_summary({**document, "results": results})


A = _summary(
    {
        ("x", "naive", 1): (0.60, 0.50, 0.70),
        ("y", "naive", 1): (0.80, 0.70, 0.90),
        ("x", "ses", 1): (0.50, 0.40, 0.60),
        ("only-in-a", "naive", 1): (0.99, 0.98, 1.00),
    }
)
B = _summary(
    {
        ("x", "naive", 1): (0.50, 0.40, 0.60),
        ("y", "naive", 1): (0.70, 0.50, 0.80),
        ("x", "ses", 1): (0.52, 0.42, 0.62),
    }
)


def test_per_model_and_horizon_figures_are_means_over_the_variables_both_scored() -> None:
    comparison = compare(A, B)
    naive, ses = comparison.changes
    assert (naive.model, naive.horizon, naive.variables) == ("naive", 1, 2)
    assert (naive.a.mean, naive.a.lower, naive.a.upper) == pytest.approx((0.70, 0.60, 0.80))
    assert (naive.b.mean, naive.b.lower, naive.b.upper) == pytest.approx((0.60, 0.45, 0.70))
    assert naive.drop(Bound.MEAN) == pytest.approx(0.10)
    assert naive.drop(Bound.LOWER) == pytest.approx(0.15)
    assert (ses.model, ses.variables) == ("ses", 1)
    assert comparison.left_out == 1


def test_a_cell_without_a_scored_target_is_left_out_not_averaged_as_the_prior() -> None:
    empty = _summary({("x", "naive", 1): (0.5, 0.025, 0.975)}, n=0)
    comparison = compare(A, empty)
    assert comparison.changes == []
    assert comparison.left_out == len(A.results) + 1


def test_per_variable_compares_each_cell() -> None:
    changes = compare(A, B, per_variable=True).changes
    assert [(c.variable, c.model) for c in changes] == [("x", "naive"), ("y", "naive"), ("x", "ses")]
    assert changes[0].label == "x: naive at horizon 1"


def test_mae_is_averaged_over_the_variables_that_have_one() -> None:
    no_mae = _summary({("x", "naive", 1): (0.6, 0.5, 0.7)}, mae=None)
    (change,) = compare(no_mae, no_mae).changes
    assert change.a.mae is None


@pytest.mark.parametrize(
    ("checks", "failed"),
    [
        (Checks(), []),
        (Checks(max_drop=0.05), ["naive at horizon 1: trust mean fell by 0.1000 (0.7000 -> 0.6000), more than 0.05"]),
        (Checks(max_drop=0.10), []),  # a drop equal to the margin passes
        (
            Checks(max_drop=0.12, bound=Bound.LOWER),
            ["naive at horizon 1: trust lower fell by 0.1500 (0.6000 -> 0.4500), more than 0.12"],
        ),
        (Checks(min_trust=0.55), ["ses at horizon 1: trust mean 0.5200 is below the floor 0.55"]),
        (Checks(min_trust=0.52), []),  # equal to the floor passes
        (Checks(min_trust=0.55, models=("naive",)), []),
        (Checks(max_drop=0.05, models=("ses",)), []),
    ],
)
def test_checks_fail_below_the_floor_or_past_the_margin_for_the_models_chosen(
    checks: Checks, failed: list[str]
) -> None:
    assert checks.failures(compare(A, B).changes) == failed


def test_only_a_fall_in_trust_counts_against_the_margin() -> None:
    assert Checks(max_drop=0.0).failures(compare(B, A).changes) == [
        "ses at horizon 1: trust mean fell by 0.0200 (0.5200 -> 0.5000), more than 0"
    ]
