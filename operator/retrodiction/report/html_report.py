"""The HTML report of a training summary: one self-contained file, figures inline as SVG, no network use."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from retrodiction.api.summary import RetrodictionSummary
from retrodiction.report.figures import mase_by_model_svg, trust_forest_svg, trust_heatmap_svg
from retrodiction.report.formatting import (
    MISSING,
    format_duration,
    format_metric,
    format_percent,
    format_probability,
    format_timestamp,
)
from retrodiction.report.interval_figures import coverage_svg
from retrodiction.report.models import IntervalRow, ModelRow, interval_rows, model_rows
from retrodiction.report.ranking import (
    Result,
    SummaryInput,
    as_summary,
    busiest_variables,
    horizons_in_order,
    models_in_order,
    ranked_groups,
    variables_in_order,
)

FIGURE_VARIABLES = 30
FAILURES_SHOWN = 50


def render_html_report(summary: SummaryInput) -> str:
    """One HTML document: run header, trust heatmap, forest plot, MASE by model and the results table."""
    return page_template("report.html.j2").render(**_context(as_summary(summary)))


def write_html_report(summary: SummaryInput, path: str | os.PathLike[str]) -> None:
    Path(path).write_text(render_html_report(summary), encoding="utf-8")


@cache
def page_template(name: str) -> Template:
    """A page of report/templates; autoescaped: every name and reason in a page comes from user data."""
    environment = Environment(
        loader=PackageLoader("retrodiction.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(name)


def _context(summary: RetrodictionSummary) -> dict[str, Any]:
    results = summary.results
    batches = summary.batches
    variables = variables_in_order(results)
    pictured = busiest_variables(results, FIGURE_VARIABLES)
    kept = set(pictured)
    figure_results = [result for result in results if result.variable in kept]
    failures = batches.failures
    return {
        "title": f"Retrodiction report: {summary.run.name or 'unnamed run'}",
        "facts": _facts(summary),
        "batches": {"total": batches.total, "succeeded": batches.succeeded, "failed": batches.failed},
        "failures": [{"id": failure.batch_id, "error": failure.error} for failure in failures[:FAILURES_SHOWN]],
        "failures_left_out": max(0, len(failures) - FAILURES_SHOWN),
        "wins": _wins(results),
        "figure_note": (
            f"Figures show the {len(pictured)} of {len(variables)} variables with the most scored targets; "
            "the table below has them all."
            if len(pictured) < len(variables)
            else None
        ),
        "figures": _figures(figure_results) if figure_results else [],
        "rows": _rows(results),
        "variable_count": len(variables),
        "models": [_model_cells(row) for row in model_rows(summary)],
        **_intervals(interval_rows(results)),
    }


def _model_cells(row: ModelRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "source": row.source,
        "refit": row.refit,
        "seconds": MISSING if row.seconds is None else f"{row.seconds:.3g} s",
        "share": format_percent(row.share),
        "errors": str(row.errors),
        "first_error": row.first_error or "",
    }


def _intervals(rows: list[IntervalRow]) -> dict[str, Any]:
    if not rows:
        return {"interval_rows": [], "interval_figure": None}
    return {
        "interval_rows": [
            [
                row.model,
                str(row.horizon),
                f"{row.level}%",
                str(row.n),
                format_percent(row.coverage),
                format_metric(row.winkler),
            ]
            for row in rows
        ],
        # matplotlib escapes every label it writes (see _figures).
        "interval_figure": Markup(coverage_svg(rows)),
    }


def _facts(summary: RetrodictionSummary) -> list[tuple[str, str]]:
    run, window, results = summary.run, summary.run.window, summary.results
    facts = [("Run", run.name or MISSING)]
    if run.namespace:
        facts.append(("Namespace", run.namespace))
    span = f"{format_timestamp(window.start)} to {format_timestamp(window.end)}"
    facts.append(("Window", f"{span}, batches of {window.batch_size_days} days"))
    if summary.config.data.uri:
        facts.append(("Data", summary.config.data.uri))
    facts += [
        ("Variables", str(len(variables_in_order(results)))),
        ("Models", ", ".join(models_in_order(results)) or MISSING),
        ("Horizons", ", ".join(str(h) for h in horizons_in_order(results)) or MISSING),
        ("Started", format_timestamp(run.start_time)),
        ("Duration", format_duration(run.start_time, run.completion_time)),
    ]
    return facts


def _wins(results: Sequence[Result]) -> list[dict[str, Any]]:
    """How many variables each model is the best for, per horizon: the report's one-line answer."""
    models = models_in_order(results)
    counts: dict[int, Counter[str]] = {}
    for group in ranked_groups(results):
        counts.setdefault(group.horizon, Counter())[group.best.model] += 1
    return [
        {"horizon": horizon, "counts": [(model, counted[model]) for model in models]}
        for horizon, counted in sorted(counts.items())
    ]


def _figures(results: Sequence[Result]) -> list[dict[str, Any]]:
    # The SVG comes from matplotlib, which escapes every label it writes, so it is safe to mark as markup.
    return [
        {
            "id": "trust-heatmap",
            "title": "Trust by variable and model",
            "description": "Posterior mean of the success rate; the best model of each variable is framed.",
            "svg": Markup(trust_heatmap_svg(results)),
        },
        {
            "id": "trust-forest",
            "title": "Trust with 95% credible intervals",
            "description": "Mean and equal-tailed 95% interval of Beta(1 + successes, 1 + failures).",
            "svg": Markup(trust_forest_svg(results)),
        },
        {
            "id": "mase-by-model",
            "title": "MASE by model",
            "description": "One dot per variable, the bar marks the median; below 1 beats the naive scale.",
            "svg": Markup(mase_by_model_svg(results)),
        },
    ]


def _rows(results: Sequence[Result]) -> list[tuple[bool, float, list[str]]]:
    """Rows as (is best, trust mean for the bar, cell texts), ranked within each variable and horizon."""
    rows = []
    for group in ranked_groups(results):
        for rank, result in enumerate(group.results, start=1):
            trust = result.trust
            rows.append(
                (
                    rank == 1,
                    trust.mean,
                    [
                        result.variable,
                        str(result.horizon),
                        result.model,
                        str(rank),
                        format_probability(trust.mean),
                        format_probability(trust.lower),
                        format_probability(trust.upper),
                        str(result.successes),
                        str(result.failures),
                        str(result.n),
                        str(result.skipped),
                        format_metric(result.mae),
                        format_metric(result.rmse),
                        format_metric(result.mase),
                        format_percent(result.directional_accuracy),
                    ],
                )
            )
    return rows
