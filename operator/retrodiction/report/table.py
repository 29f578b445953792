"""The trust table: per variable, its models ranked by how much their past forecasts deserve trust.

It fits the width it is given (report/fitting.py): variable and model names may wrap; numbers never do.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from retrodiction.api.summary import RetrodictionSummary
from retrodiction.report.fitting import Column, add_row, fit, fitted_table
from retrodiction.report.formatting import (
    format_interval,
    format_metric,
    format_percent,
    format_probability,
    format_ratio,
)
from retrodiction.report.ranking import (
    Result,
    SummaryInput,
    as_summary,
    horizons_in_order,
    ranked_groups,
    variables_in_order,
)

BEST_STYLE = "bold green"

COLUMNS: tuple[Column[Result], ...] = (
    Column("Variable", "Variable", lambda r: r.variable, is_name=True),
    Column("Model", "Model", lambda r: r.model, is_name=True),
    Column("Horizon", "h", lambda r: str(r.horizon)),
    Column("Trust (mean)", "Trust", lambda r: format_probability(r.trust.mean)),
    Column("95% interval", "95% CI", lambda r: format_interval(r.trust.lower, r.trust.upper)),
    Column("Successes/n", "Succ/n", lambda r: format_ratio(r.successes, r.n)),
    Column("MAE", "MAE", lambda r: format_metric(r.mae)),
    Column("MASE", "MASE", lambda r: format_metric(r.mase)),
    Column("Dir.acc", "Dir.acc", lambda r: format_percent(r.directional_accuracy)),
)
# Left out last to first when the table is too narrow: what says how far to trust a model stays longest.
DROP_ORDER = ("Dir.acc", "MAE", "Successes/n", "MASE", "95% interval")


def trust_table(
    summary: SummaryInput, *, horizon: int | None = None, limit: int | None = None, width: int | None = None
) -> Table:
    """Rows per variable (document order) and horizon, models ranked by trust mean, the best in bold green.

    `horizon` keeps one horizon only (ValueError when the summary has none of it); `limit` keeps the first
    `limit` variables and says in the caption how many were left out; `width` (a console's width) makes the
    table fit it, compact and with fewer columns if needed (the caption names those left out). Without a width
    every column is shown with full headers.
    """
    summary = as_summary(summary)
    results = _selected(summary.results, horizon)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")

    variables = variables_in_order(results)
    shown = variables if limit is None else variables[:limit]
    if len(shown) < len(variables):
        kept = set(shown)
        results = [result for result in results if result.variable in kept]

    fitted = fit(COLUMNS, DROP_ORDER, results, width)
    table = fitted_table(
        fitted,
        title=_title(summary, horizon),
        caption=_caption(len(shown), len(variables), fitted.dropped),
        header_style="bold",
        caption_justify="left",
    )

    groups = ranked_groups(results)
    for index, group in enumerate(groups):
        closes_variable = index + 1 == len(groups) or groups[index + 1].variable != group.variable
        for rank, result in enumerate(group.results):
            add_row(
                table,
                fitted,
                result,
                style=BEST_STYLE if rank == 0 else None,
                end_section=closes_variable and rank + 1 == len(group.results),
            )
    return table


def _selected(results: list[Result], horizon: int | None) -> list[Result]:
    if horizon is None:
        return results
    available = horizons_in_order(results)
    if horizon not in available:
        raise ValueError(f"horizon {horizon} is not in the summary (horizons: {available})")
    return [result for result in results if result.horizon == horizon]


def _title(summary: RetrodictionSummary, horizon: int | None) -> Text:
    name = summary.run.name
    title = "Trust per variable and model"
    if name:
        title += f": {name}"
    if horizon is not None:
        title += f" (horizon {horizon})"
    return Text(title, style="bold")


def _caption(shown: int, total: int, dropped: Sequence[str]) -> str:
    caption = "Best model per variable and horizon in bold. Trust is the Beta(1+successes, 1+failures) posterior."
    if shown < total:
        caption += f"\n{total - shown} of {total} variables left out (showing the first {shown})."
    if dropped:
        caption += f"\nLeft out to fit the width: {', '.join(dropped)}."
    return caption
