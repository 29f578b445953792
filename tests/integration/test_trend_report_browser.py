"""The HTML pages in a real browser: Debian's headless chromium, driven by selenium through Debian's chromedriver
(`make browser` installs both; `make test` and `make integration` run it first). A week of nightly runs, one of
them failed without a summary, must load, draw every figure at a real size, mark the failed run, and leave nothing
on the browser's console at SEVERE (a script error, a resource that failed to load).

Without the browser these tests skip, naming `make browser`, except under CI=true, where that is a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from retrodiction.api.summary import parse_summary
from retrodiction.report import write_html_report
from retrodiction.report.trend import write_trend_html
from tests.browser import BAD_COLOR, figure_sizes, severe_entries
from tests.histories import REASON, nightly_history
from tests.unit.test_report_samples import MODELS, make_summary

pytestmark = pytest.mark.integration

FAILED_DAY = 4


def test_a_week_of_nightly_runs_loads_with_every_figure_drawn_and_the_failed_run_marked(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    page = tmp_path / "trend.html"
    write_trend_html(nightly_history(7, failed=(FAILED_DAY,)), page)
    severe_entries(browser)  # reading the log empties it: only this page's entries count below
    browser.get(page.as_uri())

    assert browser.title == "Trust over time: nightly"
    sizes = figure_sizes(browser)
    assert list(sizes) == ["trust-trend-h1-figure", "trust-trend-h4-figure", "variable-detail-figure"]
    for figure_id, (width, height) in sizes.items():
        assert width > 100 and height > 100, (figure_id, width, height)

    failed_cells = browser.find_elements(By.CSS_SELECTOR, "table.trend td.failed")
    assert len(failed_cells) == len(MODELS) * 2
    assert {cell.text for cell in failed_cells} == {"failed"}
    assert failed_cells[0].value_of_css_property("color") == BAD_COLOR
    failed_run = browser.find_element(By.CSS_SELECTOR, "table.runs tr.failed")
    assert f"nightly-{FAILED_DAY}" in failed_run.text and REASON in failed_run.text
    # The figures name it too: their legend is SVG text, as matplotlib wrote it.
    legends = browser.find_elements(By.XPATH, "//*[local-name()='svg']//*[local-name()='text'][contains(., 'failed')]")
    assert sum(REASON in legend.text for legend in legends) == 2  # one per horizon's figure

    assert severe_entries(browser) == []


def test_a_single_summary_report_loads_without_console_errors(browser: webdriver.Chrome, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html_report(parse_summary(make_summary(failed_batches=1)), page)
    severe_entries(browser)
    browser.get(page.as_uri())
    assert browser.title == "Retrodiction report: macro"
    sizes = figure_sizes(browser)
    assert list(sizes) == ["trust-heatmap-figure", "trust-forest-figure", "mase-by-model-figure"]
    assert all(width > 100 and height > 100 for width, height in sizes.values()), sizes
    assert severe_entries(browser) == []
