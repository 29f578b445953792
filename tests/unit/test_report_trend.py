"""Trust over time (report/trend.py): per model and horizon a trust mean per run, oldest to newest, with failed runs
marked; a terminal table that keeps the newest runs that fit, its JSON document, and a self-contained HTML page."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from retrodiction.api.history import ScheduleHistory, slot_of, with_slot
from retrodiction.api.summary import parse_summary
from retrodiction.report.formatting import format_probability
from retrodiction.report.trend import (
    FAILED,
    render_trend_html,
    show_trend,
    slot_labels,
    trend_document,
    trend_of,
    write_trend_html,
)
from retrodiction.report.trend_table import trend_table
from tests.histories import REASON, START, nightly_history
from tests.unit.test_report_html import parse
from tests.unit.test_report_samples import MODELS, make_result, make_summary, summary_of

DAYS = 7
FAILED_DAY = 4


@pytest.fixture(scope="module")
def history() -> ScheduleHistory:
    return nightly_history(DAYS, failed=(FAILED_DAY,))


@pytest.fixture(scope="module")
def html(history: ScheduleHistory) -> str:
    return render_trend_html(history)


def render(history: ScheduleHistory, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    show_trend(history, out=console)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def shown_slots(history: ScheduleHistory, text: str) -> list[int]:
    """The runs whose column is in the rendered table, read from its header line (full or short headers)."""
    header = next(line for line in text.splitlines() if "Model" in line)
    return [i for i, (full, short) in enumerate(slot_labels(history.slots)) if full in header or short in header]


def test_rows_are_each_model_and_horizon_with_one_figure_per_run(history: ScheduleHistory) -> None:
    trend = trend_of(history)
    assert [(row.horizon, row.model) for row in trend.rows] == [(h, m) for h in (1, 4) for m in sorted(MODELS)]
    for row in trend.rows:
        assert len(row.points) == DAYS
        for slot, point in zip(history.slots, row.points, strict=True):
            if slot.phase == "Failed":
                assert point is None
            else:
                assert point == next(m for m in slot.means if (m.model, m.horizon) == (row.model, row.horizon))


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_table_keeps_the_newest_runs_that_fit_and_never_cuts_a_number(history: ScheduleHistory, width: int) -> None:
    text = render(history, width)
    assert max(cell_len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    shown = shown_slots(history, text)
    assert shown == list(range(DAYS - len(shown), DAYS))  # the newest, oldest to newest
    left_out = DAYS - len(shown)
    if width == 60:
        assert left_out > 0
    if width == 200:
        assert left_out == 0
    assert (f"{left_out} older run(s) left out to fit the width" in " ".join(text.split())) == (left_out > 0)
    trend = trend_of(history)
    for row in trend.rows:
        expected = [trend.cell(row, index) for index in shown]
        change = row.points[-1].trust - row.points[0].trust  # type: ignore[union-attr]
        # Each row's figures whole and in order on its first line, whatever the name's wrapping.
        assert any(
            _contains(line.replace("│", " ").split(), [str(row.horizon), *expected, f"{change:+.3f}"])
            for line in text.splitlines()
        )


def _contains(tokens: list[str], wanted: list[str]) -> bool:
    return any(tokens[start : start + len(wanted)] == wanted for start in range(len(tokens)))


def test_every_cell_of_a_failed_run_says_failed_and_the_caption_gives_its_reason(history: ScheduleHistory) -> None:
    trend = trend_of(history)
    assert {trend.cell(row, FAILED_DAY) for row in trend.rows} == {FAILED}
    assert all(trend.cell(row, 0) == format_probability(row.points[0].trust) for row in trend.rows)  # type: ignore[union-attr]
    text = " ".join(render(history, 200).split())
    assert f"failed: 2026-12-02 02:00:00Z nightly-{FAILED_DAY}: {REASON}" in text


def test_the_change_runs_from_the_first_to_the_newest_successful_run() -> None:
    history = nightly_history(5, failed=(0, 4))  # the first and the newest run failed
    trend = trend_of(history)
    for row in trend.rows:
        assert row.change == pytest.approx(row.points[3].trust - row.points[1].trust)  # type: ignore[union-attr]
    assert trend_of(nightly_history(2, failed=(1,))).rows[0].change is None


def test_a_model_a_run_did_not_score_shows_a_dash() -> None:
    history = nightly_history(2, failed=(), models=("naive",))
    later = parse_summary(make_summary(("gdp",), ("naive", "ses"), seed=9))
    history = with_slot(history, slot_of(later, scheduled_time=START + timedelta(days=2), run="nightly-2"))
    trend = trend_of(history)
    ses = next(row for row in trend.rows if row.model == "ses" and row.horizon == 1)
    assert [trend.cell(ses, index) for index in range(3)] == ["–", "–", format_probability(ses.points[2].trust)]  # type: ignore[union-attr]
    assert ses.change is None


def test_names_and_reasons_from_data_are_never_read_as_markup() -> None:
    history = ScheduleHistory(schedule="[bold]nightly")
    summary = parse_summary(summary_of(make_result("gdp", "[red]ses", 1, 30, 10)))
    history = with_slot(history, slot_of(summary, scheduled_time=START, run="n-0"))
    failed = slot_of(None, scheduled_time=START + timedelta(days=1), run="n-1", phase="Failed", reason="[blink]oom")
    text = render(with_slot(history, failed), 200)
    for literal in ("[bold]nightly", "[red]ses", "[blink]oom"):
        assert literal in text
    assert trend_table(history).rows  # the table itself builds from Text cells, not markup


def test_slot_labels_tell_runs_apart_even_on_the_same_day() -> None:
    nights = nightly_history(2, failed=())
    assert slot_labels(nights.slots) == [("2026-11-28", "11-28"), ("2026-11-29", "11-29")]
    twice = with_slot(nights, slot_of(None, scheduled_time=START + timedelta(hours=3), run="again", phase="Failed"))
    assert [full for full, _ in slot_labels(twice.slots)] == [
        "2026-11-28 02:00",
        "2026-11-28 05:00",
        "2026-11-29 02:00",
    ]
    same = with_slot(nights, slot_of(None, scheduled_time=START, run="rerun", phase="Failed"))
    assert [short for _, short in slot_labels(same.slots)] == ["11-28 02:00", "11-28 02:00 #2", "11-29 02:00"]


def test_the_json_document_has_each_model_and_horizon_per_slot(history: ScheduleHistory) -> None:
    document = json.loads(json.dumps(trend_document(history)))
    assert document["schedule"] == "nightly"
    assert [slot["scheduledTime"] for slot in document["slots"]][:2] == ["2026-11-28T02:00:00Z", "2026-11-29T02:00:00Z"]
    assert document["slots"][FAILED_DAY] == {
        "scheduledTime": "2026-12-02T02:00:00Z",
        "run": f"nightly-{FAILED_DAY}",
        "phase": "Failed",
        "reason": REASON,
    }
    assert len(document["rows"]) == len(MODELS) * 2
    row = document["rows"][0]
    assert set(row) == {"model", "horizon", "change", "slots"}
    assert len(row["slots"]) == DAYS
    assert row["slots"][FAILED_DAY] is None
    first = row["slots"][0]
    assert set(first) == {"trust", "mae", "variables"}
    assert first["trust"]["lower"] <= first["trust"]["mean"] <= first["trust"]["upper"]
    assert row["change"] == pytest.approx(row["slots"][-1]["trust"]["mean"] - first["trust"]["mean"])


def test_a_history_of_failed_runs_only_says_none_stored_results() -> None:
    failed = nightly_history(3, failed=(0, 1, 2))
    assert "None of the 3 runs stored results." in " ".join(render(failed, 80).split())
    assert trend_document(failed)["rows"] == []
    page = render_trend_html(failed)
    assert "No run has stored results yet." in page
    assert "<svg" not in page
    assert page.count('<tr class="failed">') == 3


def test_an_empty_history_renders_everywhere() -> None:
    empty = ScheduleHistory(schedule="new")
    assert "No runs yet." in render(empty, 80)
    assert trend_document(empty) == {"schedule": "new", "slots": [], "rows": []}
    page = render_trend_html(empty)
    assert "<svg" not in page
    assert not parse(page).errors


def test_the_page_has_a_trust_figure_per_horizon_and_the_variable_detail(html: str) -> None:
    page = parse(html)
    assert not page.errors
    assert not page.open
    assert {"trust-trend-h1-figure", "trust-trend-h4-figure", "variable-detail-figure"} <= set(page.ids)
    assert page.counts["svg"] == 3
    assert "<title>Trust over time: nightly</title>" in html


def test_the_page_marks_the_failed_run_in_its_table_figures_and_runs(html: str) -> None:
    assert html.count(f'<td class="failed">{FAILED}</td>') == len(MODELS) * 2
    legend = f"failed 2026-12-02 02:00:00Z: {REASON}"
    assert html.count(legend) == 2  # in each horizon's figure
    assert re.search(rf'<tr class="failed">.*?nightly-{FAILED_DAY}.*?Failed.*?{re.escape(REASON)}', html)


def test_the_page_loads_nothing_and_its_figure_references_are_unique(html: str) -> None:
    without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", html)
    assert not re.search(r"(https?:)?//", re.sub(r"<!--.*?-->|/\*.*?\*/", "", without_namespaces, flags=re.S))
    ids = parse(html).ids
    for target in set(re.findall(r'(?:url\(#|href="#)([^")]+)', html)):
        assert ids.count(target) == 1, target


def test_the_page_is_the_same_bytes_every_time(history: ScheduleHistory, html: str) -> None:
    assert render_trend_html(history) == html


def test_a_history_read_back_from_json_renders_the_same(history: ScheduleHistory, html: str) -> None:
    # What a schedule's history ConfigMap holds, read through the model, draws the same page.
    read = ScheduleHistory.model_validate_json(history.to_json())
    assert render_trend_html(read) == html


def test_runs_whose_detail_was_dropped_leave_gaps_in_the_variable_figure() -> None:
    history = nightly_history(4, failed=())
    slots = [slot.without_detail() if index < 2 else slot for index, slot in enumerate(history.slots)]
    thinned = history.model_copy(update={"slots": slots})
    page = render_trend_html(thinned)
    assert "variable-detail-figure" in page
    assert page.count("<td>0 of 8 variables</td></tr>") == 2  # the runs table: the two oldest kept none
    assert (
        render_trend_html(thinned.model_copy(update={"slots": [s.without_detail() for s in slots]})).count(
            "variable-detail"
        )
        == 0
    )


def test_write_trend_html_writes_the_page(history: ScheduleHistory, html: str, tmp_path: Path) -> None:
    path = tmp_path / "trend.html"
    write_trend_html(history, path)
    assert path.read_text(encoding="utf-8") == html


def test_the_terminal_table_does_not_load_matplotlib(history: ScheduleHistory) -> None:
    # matplotlib is a third of a second of start-up: only the HTML page draws with it.
    code = (
        "import io, sys\n"
        "from rich.console import Console\n"
        "from retrodiction.api.history import ScheduleHistory\n"
        "from retrodiction.report import show_trend, trend_document\n"
        "history = ScheduleHistory.model_validate_json(sys.stdin.read())\n"
        "show_trend(history, out=Console(file=io.StringIO(), width=80))\n"
        "trend_document(history)\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=history.to_json(), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
