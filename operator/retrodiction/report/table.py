"""The trust table: per variable, its models ranked by how much their past forecasts deserve trust.

It fits the width it is given (a terminal, or 80 columns in a pipe): first with full headers and borders, then
compact (short headers, no vertical rules), then without its least needed columns, so a number is never cut to
"0.…". Variable and model names may wrap; numbers never do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
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
# Names narrower than this wrap rather than push a number out; a longer name takes more lines.
NAME_MIN_WIDTH = 10


@dataclass(frozen=True)
class _Column:
    header: str
    short_header: str
    cell: Callable[[Result], str]
    is_name: bool = False

    def width(self, results: Sequence[Result], *, short: bool) -> int:
        """Cells needed on one line: the widest value or header (a name may wrap down to NAME_MIN_WIDTH)."""
        header = self.short_header if short else self.header
        widest = max([cell_len(header), *(cell_len(self.cell(result)) for result in results)])
        return min(widest, NAME_MIN_WIDTH) if self.is_name else widest


COLUMNS: tuple[_Column, ...] = (
    _Column("Variable", "Variable", lambda r: r.variable, is_name=True),
    _Column("Model", "Model", lambda r: r.model, is_name=True),
    _Column("Horizon", "h", lambda r: str(r.horizon)),
    _Column("Trust (mean)", "Trust", lambda r: format_probability(r.trust.mean)),
    _Column("95% interval", "95% CI", lambda r: format_interval(r.trust.lower, r.trust.upper)),
    _Column("Successes/n", "Succ/n", lambda r: format_ratio(r.successes, r.n)),
    _Column("MAE", "MAE", lambda r: format_metric(r.mae)),
    _Column("MASE", "MASE", lambda r: format_metric(r.mase)),
    _Column("Dir.acc", "Dir.acc", lambda r: format_percent(r.directional_accuracy)),
)
# Left out last to first when the table is too narrow: what says how far to trust a model stays longest.
DROP_ORDER = ("Dir.acc", "MAE", "Successes/n", "MASE", "95% interval")


@dataclass(frozen=True)
class _Style:
    """Borders and headers: what the columns cost beyond their cells."""

    box: box.Box
    show_edge: bool
    pad_edge: bool
    short_headers: bool

    def overhead(self, columns: int) -> int:
        # One cell of padding on each side of a column (not at the table's edges without pad_edge), one rule
        # between columns, and the two outer rules with show_edge (rich's Table._extra_width).
        padding = 2 * columns - (0 if self.pad_edge else 2)
        return padding + (columns - 1) + (2 if self.show_edge else 0)


WIDE = _Style(box.HEAVY_HEAD, show_edge=True, pad_edge=True, short_headers=False)
COMPACT = _Style(box.SIMPLE_HEAD, show_edge=False, pad_edge=False, short_headers=True)


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

    style, columns = _layout(results, width)
    dropped = [column.header for column in COLUMNS if column not in columns]
    table = Table(
        title=_title(summary, horizon),
        caption=_caption(len(shown), len(variables), dropped),
        header_style="bold",
        caption_justify="left",
        box=style.box,
        show_edge=style.show_edge,
        pad_edge=style.pad_edge,
    )
    for column in columns:
        _add_column(table, column, short=style.short_headers)

    groups = ranked_groups(results)
    for index, group in enumerate(groups):
        closes_variable = index + 1 == len(groups) or groups[index + 1].variable != group.variable
        for rank, result in enumerate(group.results):
            table.add_row(
                # Text, not str: names come from user data and must not be read as rich markup such as "[red]".
                *(Text(column.cell(result)) for column in columns),
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


def _layout(results: Sequence[Result], width: int | None) -> tuple[_Style, tuple[_Column, ...]]:
    """The first of: wide with every column, compact with every column, compact without the columns of
    DROP_ORDER one after another; the narrowest of these when nothing fits."""
    if width is None or _fits(WIDE, COLUMNS, results, width):
        return WIDE, COLUMNS
    columns: tuple[_Column, ...] = COLUMNS
    for header in DROP_ORDER:
        if _fits(COMPACT, columns, results, width):
            break
        columns = tuple(column for column in columns if column.header != header)
    return COMPACT, columns


def _fits(style: _Style, columns: Sequence[_Column], results: Sequence[Result], width: int) -> bool:
    cells = sum(column.width(results, short=style.short_headers) for column in columns)
    return cells + style.overhead(len(columns)) <= width


def _add_column(table: Table, column: _Column, *, short: bool) -> None:
    header = column.short_header if short else column.header
    if column.is_name:
        table.add_column(header, overflow="fold")
    else:
        table.add_column(header, justify="right", no_wrap=True)


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
