"""The calibration of prediction intervals: each model's empirical coverage against the nominal level."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from retrodiction.report.figures import _PALETTE, _label, _style, _to_svg
from retrodiction.report.models import IntervalRow


def coverage_svg(rows: Sequence[IntervalRow]) -> str:
    """Coverage per level, one line per model and horizon; the diagonal is perfect calibration."""
    with _style():
        figure = Figure(figsize=(6.5, 4.2), layout="constrained")
        ax = figure.subplots()
        ax.plot([0, 100], [0, 100], color="#888888", linestyle="--", linewidth=0.9, zorder=0)
        series: dict[tuple[str, int], list[IntervalRow]] = {}
        for row in rows:
            if row.coverage is not None:
                series.setdefault((row.model, row.horizon), []).append(row)
        models = list(dict.fromkeys(model for model, _ in series))
        markers = "osD^v<>"
        horizons = sorted({horizon for _, horizon in series})
        for (model, horizon), points in series.items():
            ax.plot(
                [point.level for point in points],
                [100.0 * (point.coverage or 0.0) for point in points],
                marker=markers[horizons.index(horizon) % len(markers)],
                color=_PALETTE[models.index(model) % len(_PALETTE)],
                label=f"{_label(model)}, horizon {horizon}",
            )
        low = min((row.level for row in rows), default=50)
        ax.set_xlim(max(0, low - 10), 100)
        ax.set_ylim(0, 100)
        ax.set_xlabel("nominal level (%)")
        ax.set_ylabel("targets inside the interval (%)")
        ax.grid(color="#e0e0e0", linewidth=0.6)
        if series:
            ax.legend(loc="lower right", frameon=False, fontsize=8)
        else:
            ax.text(0.5, 0.5, "no interval was scored", transform=ax.transAxes, ha="center", va="center")
        return _to_svg(figure, "interval-coverage")
