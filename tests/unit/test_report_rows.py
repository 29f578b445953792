"""`--format json`: the trust table's rows as one JSON document, each a summary result with its rank."""

from __future__ import annotations

import json

import pytest

from retrodiction.api.summary import parse_summary
from retrodiction.report.rows import table_document
from tests.unit.test_report_samples import MACRO_VARIABLES, MODELS, make_result, make_summary, summary_of


def test_every_result_is_a_row_with_the_summary_fields_unchanged_and_its_rank() -> None:
    summary = make_summary()
    document = json.loads(json.dumps(table_document(summary)))
    assert document["run"] == "macro"
    assert document["variablesLeftOut"] == 0
    expected = {(r["variable"], r["model"], r["horizon"]): r for r in parse_summary(summary).to_dict()["results"]}
    assert len(document["rows"]) == len(expected) == len(MACRO_VARIABLES) * len(MODELS) * 2
    for row in document["rows"]:
        fields = dict(row)
        rank = fields.pop("rank")
        assert fields == expected[row["variable"], row["model"], row["horizon"]]
        assert 1 <= rank <= len(MODELS)


def test_rows_follow_the_table_variables_in_run_order_then_horizon_then_rank() -> None:
    rows = table_document(make_summary())["rows"]
    order = [(MACRO_VARIABLES.index(row["variable"]), row["horizon"], row["rank"]) for row in rows]
    assert order == sorted(order)
    for start in range(0, len(rows), len(MODELS)):
        group = rows[start : start + len(MODELS)]
        means = [row["trust"]["mean"] for row in group]
        assert means == sorted(means, reverse=True)


def test_ties_rank_as_in_the_table_by_lower_mase_then_name() -> None:
    summary = summary_of(
        make_result("x", "ses", 1, 30, 10, mase=0.9),
        make_result("x", "drift", 1, 30, 10, mase=0.7),
        make_result("x", "alpha", 1, 30, 10, mase=0.9),
    )
    rows = table_document(summary)["rows"]
    assert [(row["model"], row["rank"]) for row in rows] == [("drift", 1), ("alpha", 2), ("ses", 3)]


def test_a_row_reads_variable_horizon_rank_then_the_model_and_its_scores() -> None:
    [row] = table_document(summary_of(make_result("x", "naive", 1, 3, 1)))["rows"]
    assert list(row)[:4] == ["variable", "horizon", "rank", "model"]


def test_limit_keeps_the_first_variables_and_counts_the_rest() -> None:
    document = table_document(make_summary(), limit=5)
    assert list(dict.fromkeys(row["variable"] for row in document["rows"])) == list(MACRO_VARIABLES[:5])
    assert document["variablesLeftOut"] == 7


def test_a_limit_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="limit"):
        table_document(make_summary(), limit=0)
