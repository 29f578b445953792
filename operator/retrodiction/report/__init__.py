"""Views of a training summary for people: a trust table for the terminal and a self-contained HTML report."""

from retrodiction.report.html_report import render_html_report, write_html_report
from retrodiction.report.ranking import best_models
from retrodiction.report.table import trust_table

__all__ = ["best_models", "render_html_report", "trust_table", "write_html_report"]
