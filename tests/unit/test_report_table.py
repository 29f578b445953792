"""The terminal trust table: every result listed once, ranked by trust, best model highlighted."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from retrodiction.report import trust_table
from retrodiction.report.table import BEST_STYLE
from tests.unit.test_report_samples import MACRO_VARIABLES, MODELS, make_result, make_summary, summary_of

Row = list[str]


def render(table: Table) -> str:
    console = Console(file=io.StringIO(), width=250, color_system=None)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def rendered_rows(table: Table) -> list[Row]:
    """The data rows as cell texts, read from what a person would see in the terminal."""
    rows = []
    for line in render(table).splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 9 and cells[0] != "Variable":
            rows.append(cells)
    return rows


def test_lists_every_variable_model_and_horizon_exactly_once() -> None:
    rows = rendered_rows(trust_table(make_summary()))
    keys = [(row[0], row[1], int(row[2])) for row in rows]
    assert len(keys) == len(set(keys)) == len(MACRO_VARIABLES) * len(MODELS) * 2


def test_variables_keep_document_order_and_models_are_ranked_by_trust_mean() -> None:
    summary = make_summary()
    rows = rendered_rows(trust_table(summary))
    assert list(dict.fromkeys(row[0] for row in rows)) == list(MACRO_VARIABLES)
    mean_of = {(r["variable"], r["model"], r["horizon"]): r["trust"]["mean"] for r in summary["results"]}
    for variable in MACRO_VARIABLES:
        for horizon in (1, 4):
            shown = [row[1] for row in rows if row[0] == variable and int(row[2]) == horizon]
            means = [mean_of[variable, model, horizon] for model in shown]
            assert means == sorted(means, reverse=True)


def test_only_the_best_model_of_each_variable_and_horizon_is_highlighted() -> None:
    summary = make_summary()
    table = trust_table(summary)
    highlighted = [index for index, row in enumerate(table.rows) if row.style == BEST_STYLE]
    # Rows come in groups of five models, best first.
    assert highlighted == list(range(0, len(MACRO_VARIABLES) * 2 * len(MODELS), len(MODELS)))


def test_equal_trust_is_broken_by_lower_mase_then_by_model_name() -> None:
    summary = summary_of(
        make_result("x", "ses", 1, 30, 10, mase=0.9),
        make_result("x", "drift", 1, 30, 10, mase=0.7),
        make_result("x", "naive", 1, 30, 10),
        make_result("x", "alpha", 1, 30, 10, mase=0.9),
        make_result("x", "window_average", 1, 35, 5, mase=2.0),
    )
    assert [row[1] for row in rendered_rows(trust_table(summary))] == [
        "window_average",
        "drift",
        "alpha",
        "ses",
        "naive",
    ]


def test_limit_keeps_the_first_variables_and_the_caption_counts_the_rest() -> None:
    table = trust_table(make_summary(), limit=5)
    assert list(dict.fromkeys(row[0] for row in rendered_rows(table))) == list(MACRO_VARIABLES[:5])
    assert "7 of 12 variables left out" in render(table)


def test_caption_mentions_nothing_left_out_when_everything_fits() -> None:
    assert "left out" not in render(trust_table(make_summary(), limit=12))


def test_horizon_keeps_only_that_horizon() -> None:
    rows = rendered_rows(trust_table(make_summary(), horizon=4))
    assert {row[2] for row in rows} == {"4"}
    assert len(rows) == len(MACRO_VARIABLES) * len(MODELS)


@pytest.mark.parametrize("arguments", [{"horizon": 7}, {"limit": 0}])
def test_impossible_selection_is_rejected(arguments: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=str(next(iter(arguments.values())))):
        trust_table(make_summary(), **arguments)


def test_null_metrics_render_as_a_dash() -> None:
    [row] = rendered_rows(trust_table(summary_of(make_result("empty", "naive", 1, 0, 0))))
    assert row == ["empty", "naive", "1", "0.500", "0.025–0.975", "0/0", "–", "–", "–"]


def test_metrics_are_formatted_for_reading() -> None:
    result = make_result("x", "naive", 1, 60, 20, mae=1234.5678, mase=0.91234, directionalAccuracy=0.6)
    [row] = rendered_rows(trust_table(summary_of(result)))
    assert row[3:] == ["0.744", "0.645–0.832", "60/80", "1234.6", "0.912", "60.0%"]


def test_names_are_shown_literally_not_read_as_markup() -> None:
    summary = summary_of(make_result("[red]gdp[/red]", "[bold]naive", 1, 3, 1))
    summary["run"]["name"] = "[blink]run"
    text = render(trust_table(summary))
    assert "[red]gdp[/red]" in text
    assert "[bold]naive" in text
    assert "[blink]run" in text
