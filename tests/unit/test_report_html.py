"""The HTML report: one well-formed, self-contained page with a figure per view and every result."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from retrodiction.report import render_html_report, write_html_report
from retrodiction.report.html_report import FIGURE_VARIABLES
from tests.unit.test_report_samples import MACRO_VARIABLES, MODELS, make_result, make_summary, summary_of

FIGURES = 3
VOID_ELEMENTS = {"meta", "input", "br", "hr", "img", "link", "col", "source", "wbr"}


class PageStructure(HTMLParser):
    """Checks that every element is closed in order and keeps what the tests look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.counts: dict[str, int] = {}
        self.attributes: list[tuple[str, str, str]] = []
        self.ids: list[str] = []
        self.table_rows: list[list[str]] = []
        self._in_results = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_startendtag(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.open.append(tag)
        if tag == "table":
            self._in_results = ("class", "results") in attrs
        elif tag == "tr" and self._in_results and "tbody" in self.open:
            self.table_rows.append([])
        elif tag == "td" and self._in_results:
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        for name, value in attrs:
            self.attributes.append((tag, name, value or ""))
            if name == "id" and value:
                self.ids.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.table_rows[-1].append("".join(self._cell))
            self._cell = None
        if tag == "table":
            self._in_results = False
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> PageStructure:
    page = PageStructure()
    page.feed(html)
    page.close()
    return page


def figure_svg(html: str, name: str) -> str:
    start = html.index(f'id="{name}-figure"')
    return html[start : html.index("</svg>", start)]


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return make_summary(failed_batches=2)


@pytest.fixture(scope="module")
def html(summary: dict[str, Any]) -> str:
    return render_html_report(summary)


def test_page_is_well_formed(html: str) -> None:
    page = parse(html)
    assert page.errors == []
    assert page.open == []
    assert html.startswith("<!DOCTYPE html>")


def test_page_has_one_inline_svg_per_figure(html: str) -> None:
    page = parse(html)
    assert page.counts["figure"] == FIGURES
    assert page.counts["svg"] == FIGURES
    assert "<?xml" not in html
    assert "<!DOCTYPE svg" not in html


def test_every_reference_inside_the_figures_points_to_one_element(html: str) -> None:
    # Matplotlib numbers its groups per figure (figure_1, ...), but clip paths and markers, the ids that are
    # referenced, must stay unique across figures sharing one page or a figure would be clipped by another's.
    ids = parse(html).ids
    referenced = set(re.findall(r'(?:url\(#|href="#)([^")]+)', html))
    assert referenced
    for target in referenced:
        assert ids.count(target) == 1, target
    sections = [i for i in ids if i in {"trust-heatmap", "trust-forest", "mase-by-model", "results"}]
    assert len(sections) == len(set(sections)) == 4


def test_page_loads_nothing_from_the_network(html: str) -> None:
    page = parse(html)
    for tag, name, value in page.attributes:
        if name in {"src", "href", "xlink:href", "action", "srcset"}:
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    assert "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    # Namespace names in the SVG root look like addresses but are never fetched; nothing else may.
    without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", html)
    assert not re.search(r"https?://", without_namespaces)


def test_header_tells_the_run_its_window_data_batches_and_duration(html: str) -> None:
    text = re.sub(r"<[^>]+>", " ", html)
    for fact in (
        "macro",
        "1990-01-01 to 2009-10-01",
        "builtin://macrodata",
        "38 of 40 succeeded",
        "3 min 09 s",
    ):
        assert fact in text


def test_failed_batches_are_listed_with_their_errors(html: str) -> None:
    assert "000001-0000" in html
    assert "KilledWorker" in html
    assert "All batches succeeded" not in html


def test_a_run_without_failures_says_so() -> None:
    html = render_html_report(make_summary(failed_batches=0))
    assert "All batches succeeded" in html
    assert "Failed batches" not in html


def test_results_table_has_every_result_ranked_with_the_best_first(summary: dict[str, Any], html: str) -> None:
    rows = parse(html).table_rows
    assert len(rows) == len(summary["results"])
    assert {(row[0], int(row[1]), row[2]) for row in rows} == {
        (r["variable"], r["horizon"], r["model"]) for r in summary["results"]
    }
    for start in range(0, len(rows), len(MODELS)):
        group = rows[start : start + len(MODELS)]
        assert [row[3] for row in group] == ["1", "2", "3", "4", "5"]
        trust = [float(row[4]) for row in group]
        assert trust == sorted(trust, reverse=True)


def test_null_metrics_render_as_a_dash() -> None:
    html = render_html_report(summary_of(make_result("empty", "naive", 1, 0, 0)))
    [row] = parse(html).table_rows
    assert row[11:] == ["–", "–", "–", "–"]


def test_variable_named_like_a_script_tag_is_escaped() -> None:
    name = "<script>alert(1)</script>"
    summary = make_summary(variables=[name, "gdp"])
    summary["run"]["name"] = "<b>run</b>"
    html = render_html_report(summary)
    page = parse(html)
    assert page.errors == []
    assert page.counts["script"] == 1  # the page's own sorting script
    assert "<script>alert" not in html
    assert "<b>run" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_dollar_signs_in_names_are_not_read_as_math() -> None:
    html = render_html_report(make_summary(variables=["price$usd$", "m1"]))
    assert html.count("price$usd$") >= 4  # three figures and the table


def test_single_variable_and_model_renders_every_part() -> None:
    html = render_html_report(make_summary(variables=["realgdp"], models=["naive"], horizons=[1]))
    page = parse(html)
    assert page.errors == []
    assert page.counts["svg"] == FIGURES
    assert len(page.table_rows) == 1


def test_summary_without_results_still_renders() -> None:
    html = render_html_report(summary_of())
    page = parse(html)
    assert page.errors == []
    assert page.counts.get("svg", 0) == 0
    assert page.table_rows == []


def test_figures_show_only_the_variables_with_most_data() -> None:
    variables = [f"v{index:03d}" for index in range(FIGURE_VARIABLES + 10)]
    summary = make_summary(variables=variables, horizons=[1])
    busy = set(variables[10:])
    for result in summary["results"]:
        if result["variable"] in busy:
            result["n"] += 100
    html = render_html_report(summary)
    heatmap = figure_svg(html, "trust-heatmap")
    assert ">v010<" in heatmap
    assert ">v039<" in heatmap
    assert ">v000<" not in heatmap
    assert f"Figures show the {FIGURE_VARIABLES} of {len(variables)} variables" in html
    assert len(parse(html).table_rows) == len(variables) * len(MODELS)


def test_two_thousand_variables_render_within_seconds() -> None:
    summary = make_summary(variables=[f"series_{index:04d}" for index in range(2000)])
    started = time.perf_counter()
    html = render_html_report(summary)
    elapsed = time.perf_counter() - started
    assert elapsed < 10
    page = parse(html)
    assert page.errors == []
    assert page.counts["svg"] == FIGURES
    assert len(page.table_rows) == 2000 * len(MODELS) * 2


def test_rendering_is_reproducible(summary: dict[str, Any], html: str) -> None:
    assert render_html_report(summary) == html


def test_write_html_report_writes_the_rendered_page(summary: dict[str, Any], html: str, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_html_report(summary, target)
    assert target.read_text(encoding="utf-8") == html


def test_sample_has_every_macro_variable_in_the_figures(html: str) -> None:
    heatmap = figure_svg(html, "trust-heatmap")
    for variable in MACRO_VARIABLES:
        assert f">{variable}<" in heatmap
