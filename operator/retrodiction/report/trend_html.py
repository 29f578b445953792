"""The HTML page of a trend: one self-contained file (figures inline as SVG, no network use) with trust over time
per horizon, the trend table, a few variables in detail, and every run with its phase and reason."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from retrodiction.api.history import HistorySlot, ScheduleHistory
from retrodiction.report.formatting import MISSING, format_timestamp
from retrodiction.report.html_report import page_template
from retrodiction.report.trend import FAILED, Trend, TrendRow, slot_labels, trend_of
from retrodiction.report.trend_figures import trust_trend_svg, variable_detail_svg
from retrodiction.report.trend_table import change_text

# One figure per horizon up to this many; the table has every horizon.
FIGURE_HORIZONS = 8
# The small multiples: the newest run's first variables and horizons, as the run listed them.
DETAIL_VARIABLES = 6
DETAIL_HORIZONS = 3


def render(history: ScheduleHistory) -> str:
    return page_template("trend.html.j2").render(**_context(trend_of(history)))


def _context(trend: Trend) -> dict[str, Any]:
    horizons = trend.horizons
    failed = sum(slot.phase == "Failed" for slot in trend.slots)
    return {
        "title": f"Trust over time: {trend.history.schedule}",
        "facts": _facts(trend),
        "runs": len(trend.slots),
        "failed_runs": failed,
        "figures": [_trend_figure(trend, horizon) for horizon in horizons[:FIGURE_HORIZONS]],
        "horizons_left_out": max(0, len(horizons) - FIGURE_HORIZONS),
        "detail": _detail(trend),
        "headers": [header for header, _ in slot_labels(trend.slots)],
        "groups": [[_row(trend, row) for row in trend.rows if row.horizon == horizon] for horizon in horizons],
        "slots": [_run(slot) for slot in trend.slots],
        "failed_text": FAILED,
    }


def _facts(trend: Trend) -> list[tuple[str, str]]:
    slots = trend.slots
    return [
        ("Schedule", trend.history.schedule),
        ("Runs", str(len(slots))),
        ("First run", format_timestamp(slots[0].scheduled_time) if slots else MISSING),
        ("Newest run", format_timestamp(slots[-1].scheduled_time) if slots else MISSING),
        ("Models", ", ".join(trend.models) or MISSING),
        ("Horizons", ", ".join(str(horizon) for horizon in trend.horizons) or MISSING),
    ]


def _trend_figure(trend: Trend, horizon: int) -> dict[str, Any]:
    figure_id = f"trust-trend-h{horizon}"
    # The SVG comes from matplotlib, which escapes every label it writes, so it is safe to mark as markup.
    return {"id": figure_id, "horizon": horizon, "svg": Markup(trust_trend_svg(trend, horizon, figure_id))}


def _detail(trend: Trend) -> dict[str, Any] | None:
    """Small multiples of the newest successful run that kept per-variable detail; None when none did."""
    newest = next((slot for slot in reversed(trend.slots) if slot.phase != "Failed" and slot.variables), None)
    if newest is None:
        return None
    variables = newest.variables[:DETAIL_VARIABLES]
    horizons = newest.horizons[:DETAIL_HORIZONS]
    return {
        "id": "variable-detail",
        "variables": variables,
        "horizons": horizons,
        "svg": Markup(variable_detail_svg(trend, variables, horizons, "variable-detail")),
    }


def _row(trend: Trend, row: TrendRow) -> dict[str, Any]:
    change = row.change
    return {
        "model": row.model,
        "horizon": row.horizon,
        "cells": [trend.cell(row, index) for index in range(len(trend.slots))],
        "change": change_text(row),
        "change_class": "" if change is None else ("fell" if change < 0 else "rose"),
    }


def _run(slot: HistorySlot) -> dict[str, Any]:
    kept = len(slot.variables)
    scored = kept + slot.variables_left_out
    detail = f"{kept} of {scored} variables" if scored else MISSING
    return {
        "time": format_timestamp(slot.scheduled_time),
        "run": slot.run,
        "failed": slot.phase == "Failed",
        "phase": slot.phase,
        "reason": slot.reason or "",
        "detail": detail,
    }
