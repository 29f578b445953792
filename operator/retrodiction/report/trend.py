"""Trust over time: a schedule's history (api/history.py) per model and horizon, one column per run, oldest first.

Whatever made the history renders through these functions: a schedule's history ConfigMap, or several summaries
given to `retrodiction report` (trend_command.py). The terminal table is report/trend_table.py, the HTML page
report/trend_html.py (imported only when written: it draws with matplotlib, which the terminal must not pay for).

A failed run's figures, when it stored any, cover only the batches that finished: they are not the same aggregate
as a whole run's, so the trend shows the run as failed and leaves its figures out of lines and changes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrodiction.api.history import HistorySlot, ModelTrend, ScheduleHistory
from retrodiction.report.formatting import MISSING, format_probability
from retrodiction.times import as_utc, rfc3339

if TYPE_CHECKING:
    from rich.console import Console

FAILED = "failed"


@dataclass(frozen=True)
class TrendRow:
    """One model at one horizon: its figures in each slot (None where the run failed or did not score it)."""

    model: str
    horizon: int
    points: tuple[ModelTrend | None, ...]

    @property
    def change(self) -> float | None:
        """Trust of the newest figure less that of the oldest; None with fewer than two."""
        shown = [point for point in self.points if point is not None]
        return shown[-1].trust - shown[0].trust if len(shown) > 1 else None


@dataclass(frozen=True)
class Trend:
    history: ScheduleHistory
    rows: list[TrendRow]

    @property
    def slots(self) -> list[HistorySlot]:
        return self.history.slots

    @property
    def horizons(self) -> list[int]:
        return sorted({row.horizon for row in self.rows})

    @property
    def models(self) -> list[str]:
        return sorted({row.model for row in self.rows})

    def cell(self, row: TrendRow, index: int) -> str:
        """The text of a row in slot `index`: its trust mean, "failed", or a dash when the run did not score it."""
        if self.slots[index].phase == "Failed":
            return FAILED
        point = row.points[index]
        return MISSING if point is None else format_probability(point.trust)


def trend_of(history: ScheduleHistory) -> Trend:
    """Rows per horizon (ascending), then model (by name), over every model and horizon any slot has."""
    figures = [
        {} if slot.phase == "Failed" else {(mean.model, mean.horizon): mean for mean in slot.means}
        for slot in history.slots
    ]
    keys = sorted({(mean.horizon, mean.model) for slot in history.slots for mean in slot.means})
    rows = [
        TrendRow(model, horizon, tuple(by_key.get((model, horizon)) for by_key in figures)) for horizon, model in keys
    ]
    return Trend(history, rows)


def slot_labels(slots: Sequence[HistorySlot]) -> list[tuple[str, str]]:
    """A (header, short header) per slot, from its scheduled time in UTC: the date alone while that tells the
    slots apart, else date and time; a short header drops the year while that still tells them apart. Headers
    are unique (a repeat gets " #2"...): the table leaves columns out by header."""
    moments = [as_utc(slot.scheduled_time) for slot in slots]
    headers = [moment.strftime("%Y-%m-%d") for moment in moments]
    if len(set(headers)) < len(headers):
        headers = [moment.strftime("%Y-%m-%d %H:%M") for moment in moments]
    short = [header[5:] for header in headers]
    if len(set(short)) < len(set(headers)):
        short = headers
    return list(zip(_unique(headers), _unique(short), strict=True))


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


def trend_document(history: ScheduleHistory) -> dict[str, Any]:
    """The trend for scripts: the slots (time, run, phase, reason) and per model and horizon one entry per slot,
    in the slots' order: its trust (mean and 95% interval bounds, means over `variables`) and MAE, or null."""
    trend = trend_of(history)
    return {
        "schedule": history.schedule,
        "slots": [
            {
                "scheduledTime": rfc3339(slot.scheduled_time),
                "run": slot.run,
                "phase": slot.phase,
                "reason": slot.reason,
            }
            for slot in history.slots
        ],
        "rows": [
            {
                "model": row.model,
                "horizon": row.horizon,
                "change": row.change,
                "slots": [_point(point) for point in row.points],
            }
            for row in trend.rows
        ],
    }


def _point(point: ModelTrend | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {
        "trust": {"mean": point.trust, "lower": point.lower, "upper": point.upper},
        "mae": point.mae,
        "variables": point.variables,
    }


def show_trend(history: ScheduleHistory, *, out: Console | None = None) -> None:
    """The trend table on `out` (stdout's console by default), fitted to its width."""
    from retrodiction.report.trend_table import trend_table
    from retrodiction.terminal import console

    out = out or console()
    out.print(trend_table(history, width=out.width))


def render_trend_html(history: ScheduleHistory) -> str:
    from retrodiction.report.trend_html import render

    return render(history)


def write_trend_html(history: ScheduleHistory, path: str | os.PathLike[str]) -> None:
    Path(path).write_text(render_trend_html(history), encoding="utf-8")
