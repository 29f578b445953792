"""The terminal trust table: every result listed once, ranked by trust, best model highlighted, and at any width
every row whole: names may wrap, numbers are never cut."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from rich.table import Table

from retrodiction.report import trust_table
from retrodiction.report.formatting import format_interval, format_probability
from retrodiction.report.table import BEST_STYLE
from tests.unit.test_report_samples import MACRO_VARIABLES, MODELS, make_result, make_summary, summary_of

Row = list[str]
# A whole cell of the table: a number, a percentage, an interval, a ratio, or the dash of a missing value.
WHOLE_VALUE = re.compile(r"^(-?\d+(\.\d+)?(e[-+]\d+)?%?|\d\.\d{3}–\d\.\d{3}|\d+/\d+|–)$")


def render(table: Table, width: int = 250) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
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


def lines_of_results(text: str) -> list[list[str]]:
    """The words of each line that shows a result (its variable and model first), whatever the borders."""
    words = [re.sub(r"[│┃]", " ", line).split() for line in text.splitlines()]
    return [row for row in words if len(row) > 3 and row[0] in MACRO_VARIABLES and row[1] in MODELS]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_at_any_width_every_result_is_shown_once_with_whole_numbers(width: int) -> None:
    summary = make_summary()
    text = render(trust_table(summary, width=width), width=width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    rows = lines_of_results(text)
    expected = {(r["variable"], r["model"], r["horizon"]): r["trust"] for r in summary["results"]}
    assert sorted((row[0], row[1], int(row[2])) for row in rows) == sorted(expected)
    for row in rows:
        trust = expected[row[0], row[1], int(row[2])]
        assert row[3] == format_probability(trust["mean"])
        assert all(WHOLE_VALUE.match(cell) for cell in row[2:]), row


def test_a_narrow_table_keeps_the_interval_and_names_the_columns_it_leaves_out() -> None:
    summary = make_summary()
    text = render(trust_table(summary, width=60), width=60)
    first = summary["results"][0]
    assert format_interval(first["trust"]["lower"], first["trust"]["upper"]) in text
    assert "Left out to fit the width: Successes/n, MAE, Dir.acc." in " ".join(text.split())


def test_a_wide_terminal_shows_every_column_with_its_full_header() -> None:
    text = render(trust_table(make_summary(), width=120), width=120)
    assert all(header in text for header in ("Trust (mean)", "95% interval", "Successes/n", "MAE", "Dir.acc"))
    assert "Left out" not in text


def test_long_names_wrap_and_leave_every_number_whole() -> None:
    long_names = [f"{name}_seasonally_adjusted_chained_2012_dollars" for name in ("gdp", "consumption")]
    summary = make_summary(variables=long_names, models=("naive", "drift"), horizons=(1,))
    text = render(trust_table(summary, width=60), width=60)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 60
    shown = " ".join(text.split())
    for result in summary["results"]:
        assert format_probability(result["trust"]["mean"]) in shown
    assert "chained" in shown  # wrapped onto a line of its own, not cut
