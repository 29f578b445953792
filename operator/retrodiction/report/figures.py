"""Figures of a training summary, drawn with matplotlib and returned as SVG text to inline in HTML.

Figures are built on `matplotlib.figure.Figure` directly rather than through pyplot, so no global backend is
selected and nothing is shown on a screen; `savefig(format="svg")` renders through matplotlib's SVG canvas.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from retrodiction.report.ranking import (
    Result,
    horizons_in_order,
    models_in_order,
    ranked_groups,
    variables_in_order,
)

PANELS_PER_ROW = 3
LABEL_CHARS = 28

# Matplotlib otherwise adds an RDF block with a creation date, which makes reports differ run to run.
_NO_METADATA: dict[str, Any] = {"Creator": None, "Date": None, "Format": None, "Type": None}
_TRUST_COLORMAP = mpl.colormaps["YlGnBu"].with_extremes(bad="#e6e6e6")
_PALETTE = mpl.color_sequences["tab10"]


@dataclass(frozen=True)
class _Grid:
    """Results indexed by (variable, model, horizon), with the best model of every (variable, horizon)."""

    variables: list[Any]
    models: list[str]
    horizons: list[int]
    cells: dict[tuple[Any, str, int], Result]
    best: frozenset[tuple[Any, str, int]]

    @classmethod
    def of(cls, results: Sequence[Result]) -> _Grid:
        return cls(
            variables=variables_in_order(results),
            models=models_in_order(results),
            horizons=horizons_in_order(results),
            cells={(r.variable, r.model, r.horizon): r for r in results},
            best=frozenset((group.variable, group.best.model, group.horizon) for group in ranked_groups(results)),
        )

    def get(self, variable: Any, model: str, horizon: int) -> Result | None:
        return self.cells.get((variable, model, horizon))


def trust_heatmap_svg(results: Sequence[Result]) -> str:
    """Trust mean of every variable (rows) and model (columns), one panel per horizon; best model framed."""
    grid = _Grid.of(results)
    nrows, ncols = _panel_layout(len(grid.horizons))
    width = ncols * (0.8 * len(grid.models) + 0.5) + _label_width(grid.variables) + 1.2
    height = nrows * (0.3 * len(grid.variables) + 1.4) + 0.3
    with _style():
        figure = Figure(figsize=(min(width, 16.0), height), layout="constrained")
        axes = figure.subplots(nrows, ncols, squeeze=False, sharey=True)
        image = None
        for ax, horizon in zip(axes.flat, grid.horizons, strict=False):
            values = np.array([[_trust_mean(grid.get(v, m, horizon)) for m in grid.models] for v in grid.variables])
            image = ax.imshow(np.ma.masked_invalid(values), cmap=_TRUST_COLORMAP, vmin=0.0, vmax=1.0, aspect="auto")
            for row, variable in enumerate(grid.variables):
                for column, model in enumerate(grid.models):
                    value = values[row, column]
                    is_best = (variable, model, horizon) in grid.best
                    if is_best:
                        ax.add_patch(
                            Rectangle(
                                (column - 0.5, row - 0.5),
                                1,
                                1,
                                fill=False,
                                edgecolor="#111111",
                                linewidth=1.4,
                            )
                        )
                    ax.text(
                        column,
                        row,
                        "–" if math.isnan(value) else f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if value > 0.6 else "#1a1a1a",
                        fontweight="bold" if is_best else "normal",
                    )
            ax.set_xticks(range(len(grid.models)), [_label(m) for m in grid.models], rotation=30, ha="right")
            ax.set_yticks(range(len(grid.variables)), [_label(v) for v in grid.variables])
            ax.tick_params(length=0)
            ax.spines[:].set_visible(False)
            ax.set_title(f"horizon {horizon}")
        _hide_unused(axes.flat[len(grid.horizons) :])
        if image is not None:
            figure.colorbar(image, ax=axes, label="trust (mean)", shrink=min(1.0, 6.0 / height), aspect=25)
        return _to_svg(figure, "trust-heatmap")


def trust_forest_svg(results: Sequence[Result]) -> str:
    """Trust mean and 95% interval of each variable's models, one panel per horizon; best model ringed."""
    grid = _Grid.of(results)
    nrows, ncols = _panel_layout(len(grid.horizons))
    row_height = max(0.32, 0.08 * len(grid.models) + 0.12)
    width = ncols * 4.0 + _label_width(grid.variables) + 0.4
    height = nrows * (row_height * len(grid.variables) + 1.1) + 0.5
    offsets = np.linspace(-0.3, 0.3, len(grid.models)) if len(grid.models) > 1 else np.zeros(1)
    with _style():
        figure = Figure(figsize=(min(width, 16.0), height), layout="constrained")
        axes = figure.subplots(nrows, ncols, squeeze=False, sharey=True)
        for ax, horizon in zip(axes.flat, grid.horizons, strict=False):
            for row in range(0, len(grid.variables), 2):
                ax.axhspan(row - 0.5, row + 0.5, color="#f4f4f4", zorder=0, linewidth=0)
            for column, model in enumerate(grid.models):
                rows = [
                    (row, result)
                    for row, variable in enumerate(grid.variables)
                    if (result := grid.get(variable, model, horizon)) is not None
                ]
                if not rows:
                    continue
                ys = np.array([row + offsets[column] for row, _ in rows])
                means = np.array([_trust_mean(result) for _, result in rows])
                lowers = np.array([result.trust.lower for _, result in rows])
                uppers = np.array([result.trust.upper for _, result in rows])
                ax.errorbar(
                    means,
                    ys,
                    xerr=np.vstack([means - lowers, uppers - means]),
                    fmt="o",
                    markersize=3.5,
                    linewidth=1.1,
                    color=_PALETTE[column % len(_PALETTE)],
                    zorder=2,
                )
                best = [
                    index for index, (row, _) in enumerate(rows) if (grid.variables[row], model, horizon) in grid.best
                ]
                ax.scatter(
                    means[best],
                    ys[best],
                    s=42,
                    facecolors="none",
                    edgecolors="black",
                    linewidths=0.8,
                    zorder=3,
                )
            ax.set_yticks(range(len(grid.variables)), [_label(v) for v in grid.variables])
            ax.set_ylim(len(grid.variables) - 0.5, -0.5)
            ax.set_xlim(0.0, 1.0)
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="x", color="#d0d0d0", linewidth=0.6)
            ax.set_axisbelow(True)
            ax.set_xlabel("trust: mean and 95% interval")
            ax.set_title(f"horizon {horizon}")
        _hide_unused(axes.flat[len(grid.horizons) :])
        handles = [
            Line2D([], [], marker="o", markersize=4, linewidth=1.1, color=_PALETTE[i % len(_PALETTE)])
            for i in range(len(grid.models))
        ]
        handles.append(Line2D([], [], marker="o", markersize=6.5, linestyle="none", fillstyle="none", color="black"))
        figure.legend(
            handles,
            [*(_label(m) for m in grid.models), "best model"],
            loc="outside upper center",
            ncols=min(len(handles), 6),
            frameon=False,
        )
        return _to_svg(figure, "trust-forest")


def mase_by_model_svg(results: Sequence[Result]) -> str:
    """MASE of every variable per model (one dot each) and its median, one colour per horizon."""
    grid = _Grid.of(results)
    offsets = np.linspace(-0.22, 0.22, len(grid.horizons)) if len(grid.horizons) > 1 else np.zeros(1)
    # Deterministic jitter keeps overlapping dots apart without making reports differ between runs.
    jitter = np.random.default_rng(0)
    height = len(grid.models) * max(0.55, 0.3 * len(grid.horizons)) + 1.5
    with _style():
        figure = Figure(figsize=(9.0, height), layout="constrained")
        ax = figure.subplots()
        shown: list[float] = []
        handles: list[Line2D] = []
        # Horizons are ordered, so a sequential palette; it also keeps them apart from the model colours.
        colors = mpl.colormaps["viridis"](np.linspace(0.05, 0.75, len(grid.horizons)))
        for horizon, offset, color in zip(grid.horizons, offsets, colors, strict=True):
            for row, model in enumerate(grid.models):
                values = [
                    mase
                    for variable in grid.variables
                    if (result := grid.get(variable, model, horizon)) is not None and (mase := result.mase) is not None
                ]
                if not values:
                    continue
                y = row + offset
                ax.scatter(
                    values,
                    y + jitter.uniform(-0.05, 0.05, len(values)),
                    s=12,
                    color=color,
                    alpha=0.55,
                    linewidths=0,
                )
                ax.scatter([float(np.median(values))], [y], marker="|", s=260, color=color, linewidths=2.4)
                shown.extend(values)
            handles.append(Line2D([], [], marker="o", linestyle="none", markersize=4, color=color))
        if not shown:
            ax.text(0.5, 0.5, "no MASE values to show", transform=ax.transAxes, ha="center", va="center")
        else:
            ax.axvline(1.0, color="#888888", linestyle="--", linewidth=0.9, zorder=0)
            # Errors spanning orders of magnitude would squash most dots against zero on a linear axis.
            if min(shown) > 0 and max(shown) / min(shown) > 50:
                ax.set_xscale("log")
            else:
                # From zero, and past 1 so the reference line is never on the frame.
                ax.set_xlim(0.0, max(1.1, 1.05 * max(shown)))
            handles.append(
                Line2D([], [], marker="|", linestyle="none", markersize=12, markeredgewidth=2.4, color="#444")
            )
            figure.legend(
                handles,
                [*(f"horizon {h}" for h in grid.horizons), "median"],
                loc="outside upper center",
                ncols=len(handles),
                frameon=False,
            )
        ax.set_yticks(range(len(grid.models)), [_label(m) for m in grid.models])
        ax.set_ylim(len(grid.models) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_xlabel("MASE (lower is better; dashed line: MASE = 1)")
        return _to_svg(figure, "mase-by-model")


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(
        {
            # Text stays text in the SVG: smaller files, and labels can be selected and searched.
            "svg.fonttype": "none",
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        yield


def _to_svg(figure: Figure, figure_id: str) -> str:
    buffer = io.StringIO()
    # A per-figure salt keeps the ids of clip paths and markers unique when several SVGs share one page.
    with mpl.rc_context({"svg.hashsalt": figure_id, "svg.id": f"{figure_id}-figure"}):
        figure.savefig(buffer, format="svg", metadata=_NO_METADATA)
    text = buffer.getvalue()
    # The XML prolog and DOCTYPE belong to standalone files, not to SVG inlined in HTML.
    return text[text.index("<svg") :]


def _panel_layout(panels: int) -> tuple[int, int]:
    """Rows and columns for one panel per horizon, at most PANELS_PER_ROW wide and as even as possible."""
    rows = max(1, math.ceil(panels / PANELS_PER_ROW))
    return rows, max(1, math.ceil(panels / rows))


def _hide_unused(axes: Sequence[Axes] | np.ndarray[Any, Any]) -> None:
    for ax in axes:
        ax.set_visible(False)


def _label_width(labels: Sequence[Any]) -> float:
    longest = max((len(_label(label)) for label in labels), default=0)
    return 0.3 + 0.065 * longest


def _label(value: Any, limit: int = LABEL_CHARS) -> str:
    """Shortened in the middle to `limit` characters so long names that share a prefix stay apart; `$` escaped so
    names are never read as mathtext."""
    text = str(value)
    if len(text) > limit:
        head = (limit - 1) // 2
        text = text[:head] + "…" + text[len(text) - (limit - 1 - head) :]
    return text.replace("$", r"\$")


def _trust_mean(result: Result | None) -> float:
    return math.nan if result is None else result.trust.mean
