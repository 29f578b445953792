"""Figures of trust over time, drawn as report/figures.py draws (Figures directly, no pyplot; SVG text with stable
ids and no dates in it): per horizon a line per model with its 95% band, and small multiples per variable.

The x axis is each run's scheduled time. Failed runs are dotted red vertical lines, named in the legend with their
reason; they have no point on any line (trend.py says why), so a line joins the successful runs on either side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from retrodiction.api.history import HistorySlot
from retrodiction.report.figures import _PALETTE, _label, _style, _to_svg
from retrodiction.report.formatting import format_timestamp
from retrodiction.report.trend import Trend
from retrodiction.times import as_utc

FAILED_COLOR = "#a8322d"
# Failed runs named in a figure's legend, newest first; the page's table of runs names them all.
FAILED_NAMED = 4
REASON_CHARS = 60


def trust_trend_svg(trend: Trend, horizon: int, figure_id: str) -> str:
    """Per model at `horizon`: the trust mean (over variables) of each successful run, and its 95% band."""
    succeeded = _succeeded(trend.slots)
    times = [_time(trend.slots[index]) for index in succeeded]
    colors = _colors(trend.models)
    with _style():
        figure = Figure(figsize=(9.0, 4.0), layout="constrained")
        ax = figure.subplots()
        handles: list[Line2D] = []
        labels: list[str] = []
        shown: list[float] = []
        for row in (row for row in trend.rows if row.horizon == horizon):
            points = [row.points[index] for index in succeeded]
            means, lowers, uppers = (
                np.array([math.nan if point is None else getattr(point, field) for point in points])
                for field in ("trust", "lower", "upper")
            )
            color = colors[row.model]
            (line,) = ax.plot(times, means, marker="o", markersize=3.5, linewidth=1.4, color=color)
            ax.fill_between(times, lowers, uppers, color=color, alpha=0.14, linewidth=0)
            handles.append(line)
            labels.append(_label(row.model))
            shown.extend(value for value in (*lowers, *uppers) if not math.isnan(value))
        _mark_failures(ax, trend.slots)
        failed = _failure_legend(trend.slots)
        ax.set_ylim(*_trust_range(shown))
        ax.set_ylabel("trust (mean over variables)")
        ax.set_title(f"horizon {horizon}")
        ax.grid(color="#e0e0e0", linewidth=0.6)
        _time_axis(ax)
        # Models on the right, failed runs below: a reason is longer than a row of model names leaves room for.
        if handles:
            figure.legend(handles, labels, loc="outside right upper", frameon=False)
        if failed[0]:
            figure.legend(*failed, loc="outside lower center", ncols=1, frameon=False)
        return _to_svg(figure, figure_id)


def variable_detail_svg(trend: Trend, variables: Sequence[str], horizons: Sequence[int], figure_id: str) -> str:
    """Small multiples: a panel per variable (rows) and horizon (columns), a line per model. A run whose detail
    lacks the variable or model (dropped to keep the history small, or not scored) leaves a gap."""
    succeeded = _succeeded(trend.slots)
    details = [_Detail.of(trend.slots[index]) for index in succeeded]
    times = [_time(trend.slots[index]) for index in succeeded]
    colors = _colors(trend.models)
    drawn: dict[str, Line2D] = {}
    with _style():
        figure = Figure(
            figsize=(min(16.0, 3.6 * len(horizons) + 0.8), 1.9 * len(variables) + 1.0), layout="constrained"
        )
        axes = figure.subplots(len(variables), len(horizons), squeeze=False, sharex=True, sharey=True)
        for ax_row, variable in zip(axes, variables, strict=True):
            for ax, horizon in zip(ax_row, horizons, strict=True):
                for model in trend.models:
                    values = np.array([detail.trust(variable, model, horizon) for detail in details])
                    if np.isnan(values).all():
                        continue
                    (drawn[model],) = ax.plot(times, values, marker="o", markersize=2.5, color=colors[model])
                _mark_failures(ax, trend.slots)
                ax.set_title(f"{_label(variable)}, horizon {horizon}", fontsize=9)
                ax.set_ylim(0.0, 1.0)
                ax.grid(color="#e0e0e0", linewidth=0.6)
        for ax in axes[-1]:
            _time_axis(ax)
        models = [model for model in trend.models if model in drawn]
        handles, labels = [drawn[model] for model in models], [_label(model) for model in models]
        if any(slot.phase == "Failed" for slot in trend.slots):
            handles.append(_failure_handle())
            labels.append("failed run")
        if handles:
            figure.legend(handles, labels, loc="outside upper center", ncols=min(len(handles), 6), frameon=False)
        return _to_svg(figure, figure_id)


@dataclass(frozen=True)
class _Detail:
    """A slot's per-variable trust, looked up by names."""

    slot: HistorySlot
    variables: dict[str, int]
    models: dict[str, int]
    horizons: dict[int, int]

    @classmethod
    def of(cls, slot: HistorySlot) -> _Detail:
        def positions(names: Sequence[Any]) -> dict[Any, int]:
            return {name: index for index, name in enumerate(names)}

        return cls(slot, positions(slot.variables), positions(slot.models), positions(slot.horizons))

    def trust(self, variable: str, model: str, horizon: int) -> float:
        if variable not in self.variables or model not in self.models or horizon not in self.horizons:
            return math.nan
        value = self.slot.trust[self.slot.cell(self.variables[variable], self.models[model], self.horizons[horizon])]
        return math.nan if value is None else value


def _succeeded(slots: Sequence[HistorySlot]) -> list[int]:
    return [index for index, slot in enumerate(slots) if slot.phase != "Failed"]


def _time(slot: HistorySlot) -> float:
    """The slot's scheduled time as the date axis' own number (days since matplotlib's date epoch)."""
    return float(mdates.date2num(as_utc(slot.scheduled_time)))


def _colors(models: Sequence[str]) -> dict[str, Any]:
    """The same colour for a model in every figure of the page."""
    return {model: _PALETTE[index % len(_PALETTE)] for index, model in enumerate(models)}


def _mark_failures(ax: Axes, slots: Sequence[HistorySlot]) -> None:
    for slot in slots:
        if slot.phase == "Failed":
            ax.axvline(_time(slot), color=FAILED_COLOR, linestyle=":", linewidth=1.3, zorder=0)


def _failure_handle() -> Line2D:
    return Line2D([], [], color=FAILED_COLOR, linestyle=":", linewidth=1.3)


def _failure_legend(slots: Sequence[HistorySlot]) -> tuple[list[Line2D], list[str]]:
    """Legend entries for the newest FAILED_NAMED failed runs, with their reasons, and a count of the others."""
    failed = [slot for slot in slots if slot.phase == "Failed"]
    handles: list[Line2D] = []
    labels: list[str] = []
    for slot in failed[::-1][:FAILED_NAMED]:
        handles.append(_failure_handle())
        reason = _label(slot.reason or "no reason given", REASON_CHARS)
        labels.append(f"failed {format_timestamp(slot.scheduled_time)}: {reason}")
    if len(failed) > FAILED_NAMED:
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(f"and {len(failed) - FAILED_NAMED} earlier failed run(s)")
    return handles, labels


def _trust_range(values: Sequence[float]) -> tuple[float, float]:
    """Close around the figures, so a drift of a few hundredths shows, but within 0..1."""
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    margin = max(0.02, 0.08 * (high - low))
    return max(0.0, low - margin), min(1.0, high + margin)


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
