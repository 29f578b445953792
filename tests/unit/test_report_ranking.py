"""Choosing the model to trust per variable and horizon, and the variables worth a figure."""

from __future__ import annotations

from retrodiction.api.summary import SummaryResult
from retrodiction.report import best_models
from retrodiction.report.ranking import busiest_variables
from tests.unit.test_report_samples import make_result, summary_of


def test_best_model_has_the_highest_trust_mean_per_variable_and_horizon() -> None:
    summary = summary_of(
        make_result("cpi", "naive", 4, 10, 30),
        make_result("gdp", "naive", 1, 30, 10),
        make_result("gdp", "ses", 1, 35, 5),
        make_result("cpi", "ses", 4, 20, 20),
        make_result("gdp", "naive", 4, 25, 15),
        make_result("gdp", "ses", 4, 5, 35),
    )
    assert [(b["variable"], b["horizon"], b["model"]) for b in best_models(summary)] == [
        ("cpi", 4, "ses"),
        ("gdp", 1, "ses"),
        ("gdp", 4, "naive"),
    ]


def test_best_model_ties_go_to_lower_mase_and_a_missing_mase_loses() -> None:
    summary = summary_of(
        make_result("x", "naive", 1, 30, 10),
        make_result("x", "ses", 1, 30, 10, mase=1.4),
        make_result("x", "drift", 1, 30, 10, mase=0.8),
    )
    assert best_models(summary)[0]["model"] == "drift"


def test_best_model_ties_in_trust_and_mase_go_to_the_model_name() -> None:
    summary = summary_of(
        make_result("x", "ses", 1, 30, 10, mase=0.8),
        make_result("x", "drift", 1, 30, 10, mase=0.8),
    )
    assert best_models(summary)[0]["model"] == "drift"


def test_best_models_returns_the_full_result_row_as_a_copy() -> None:
    row = make_result("x", "naive", 1, 3, 1, mae=0.5)
    [best] = best_models(summary_of(row))
    assert best == row
    best["model"] = "changed"
    assert row["model"] == "naive"


def test_busiest_variables_are_those_with_most_targets_kept_in_document_order() -> None:
    results = [
        SummaryResult.model_validate(row)
        for row in (
            make_result("a", "naive", 1, 1, 1),
            make_result("b", "naive", 1, 50, 50),
            make_result("c", "naive", 1, 5, 5),
            make_result("a", "ses", 1, 1, 1),
            make_result("d", "naive", 1, 30, 30),
        )
    ]
    assert busiest_variables(results, 2) == ["b", "d"]
    assert busiest_variables(results, 10) == ["a", "b", "c", "d"]
