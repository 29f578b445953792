"""The trust table: per variable, its models ranked by how much their past forecasts deserve trust."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from retrodiction.api.summary import RetrodictionSummary
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


def trust_table(summary: SummaryInput, *, horizon: int | None = None, limit: int | None = None) -> Table:
    """Rows per variable (document order) and horizon, models ranked by trust mean, the best in bold green.

    `horizon` keeps one horizon only (ValueError when the summary has none of it); `limit` keeps the first
    `limit` variables and says in the caption how many were left out.
    """
    summary = as_summary(summary)
    results = summary.results
    if horizon is not None:
        available = horizons_in_order(results)
        if horizon not in available:
            raise ValueError(f"horizon {horizon} is not in the summary (horizons: {available})")
        results = [result for result in results if result.horizon == horizon]
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")

    variables = variables_in_order(results)
    shown = variables if limit is None else variables[:limit]
    if len(shown) < len(variables):
        kept = set(shown)
        results = [result for result in results if result.variable in kept]

    table = Table(
        title=_title(summary, horizon),
        caption=_caption(len(shown), len(variables)),
        header_style="bold",
        caption_justify="left",
    )
    table.add_column("Variable", overflow="fold")
    table.add_column("Model", no_wrap=True)
    table.add_column("Horizon", justify="right", no_wrap=True)
    table.add_column("Trust (mean)", justify="right", no_wrap=True)
    table.add_column("95% interval", justify="right", no_wrap=True)
    table.add_column("Successes/n", justify="right", no_wrap=True)
    table.add_column("MAE", justify="right", no_wrap=True)
    table.add_column("MASE", justify="right", no_wrap=True)
    table.add_column("Dir.acc", justify="right", no_wrap=True)

    groups = ranked_groups(results)
    for index, group in enumerate(groups):
        closes_variable = index + 1 == len(groups) or groups[index + 1].variable != group.variable
        for rank, result in enumerate(group.results):
            table.add_row(
                *_cells(result),
                style=BEST_STYLE if rank == 0 else None,
                end_section=closes_variable and rank + 1 == len(group.results),
            )
    return table


def _cells(result: Result) -> list[Text]:
    trust = result.trust
    # Text, not str: names come from user data and must not be read as rich markup such as "[red]".
    return [
        Text(result.variable),
        Text(result.model),
        Text(str(result.horizon)),
        Text(format_probability(trust.mean)),
        Text(format_interval(trust.lower, trust.upper)),
        Text(format_ratio(result.successes, result.n)),
        Text(format_metric(result.mae)),
        Text(format_metric(result.mase)),
        Text(format_percent(result.directional_accuracy)),
    ]


def _title(summary: RetrodictionSummary, horizon: int | None) -> Text:
    name = summary.run.name
    title = "Trust per variable and model"
    if name:
        title += f": {name}"
    if horizon is not None:
        title += f" (horizon {horizon})"
    return Text(title, style="bold")


def _caption(shown: int, total: int) -> str:
    caption = "Best model per variable and horizon in bold. Trust is the Beta(1+successes, 1+failures) posterior."
    if shown < total:
        caption += f"\n{total - shown} of {total} variables left out (showing the first {shown})."
    return caption
