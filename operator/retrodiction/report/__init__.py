"""Views of a training summary for people: a trust table for the terminal and a self-contained HTML report; and of
a schedule's history (several runs), each model's trust over time in the same two forms (trend.py).

Each name loads its module on first use: the terminal table must not pay for matplotlib, which only the HTML
report draws with (about a third of a second of `retrodiction train`'s start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrodiction.report.html_report import render_html_report, write_html_report
    from retrodiction.report.ranking import best_models
    from retrodiction.report.table import trust_table
    from retrodiction.report.trend import render_trend_html, show_trend, trend_document, write_trend_html

__all__ = [
    "best_models",
    "render_html_report",
    "render_trend_html",
    "show_trend",
    "trend_document",
    "trust_table",
    "write_html_report",
    "write_trend_html",
]

_MODULES = {
    "best_models": "retrodiction.report.ranking",
    "render_html_report": "retrodiction.report.html_report",
    "trust_table": "retrodiction.report.table",
    "write_html_report": "retrodiction.report.html_report",
    "render_trend_html": "retrodiction.report.trend",
    "show_trend": "retrodiction.report.trend",
    "trend_document": "retrodiction.report.trend",
    "write_trend_html": "retrodiction.report.trend",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
