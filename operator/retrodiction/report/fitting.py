"""Tables that fit the width they are given (a terminal, or 80 columns in a pipe): first with full headers and
borders, then compact (short headers, no vertical rules), then without their least needed columns, so a number
is never cut to "0.…". Names may wrap; numbers never do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from retrodiction.report.fast_table import FastTable

Row = TypeVar("Row")
# Names narrower than this wrap rather than push a number out; a longer name takes more lines.
NAME_MIN_WIDTH = 10


@dataclass(frozen=True)
class Column(Generic[Row]):
    header: str
    short_header: str
    cell: Callable[[Row], str]
    is_name: bool = False

    def width(self, rows: Sequence[Row], *, short: bool) -> int:
        """Cells needed on one line: the widest value or header (a name may wrap down to NAME_MIN_WIDTH)."""
        header = self.short_header if short else self.header
        widest = max([cell_len(header), *(cell_len(self.cell(row)) for row in rows)])
        return min(widest, NAME_MIN_WIDTH) if self.is_name else widest


@dataclass(frozen=True)
class Style:
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


WIDE = Style(box.HEAVY_HEAD, show_edge=True, pad_edge=True, short_headers=False)
COMPACT = Style(box.SIMPLE_HEAD, show_edge=False, pad_edge=False, short_headers=True)


@dataclass(frozen=True)
class Fitted(Generic[Row]):
    style: Style
    columns: tuple[Column[Row], ...]
    # Headers of the columns left out to fit, in the table's order.
    dropped: list[str]


def fit(
    columns: Sequence[Column[Row]], drop_order: Sequence[str], rows: Sequence[Row], width: int | None
) -> Fitted[Row]:
    """The first of: wide with every column, compact with every column, compact without the columns of
    `drop_order` (headers) one after another; the narrowest of these when nothing fits. No width: wide."""
    chosen: tuple[Column[Row], ...] = tuple(columns)
    style = WIDE
    if width is not None and not _fits(WIDE, chosen, rows, width):
        style = COMPACT
        for header in drop_order:
            if _fits(COMPACT, chosen, rows, width):
                break
            chosen = tuple(column for column in chosen if column.header != header)
    return Fitted(style, chosen, [column.header for column in columns if column not in chosen])


def _fits(style: Style, columns: Sequence[Column[Row]], rows: Sequence[Row], width: int) -> bool:
    cells = sum(column.width(rows, short=style.short_headers) for column in columns)
    return cells + style.overhead(len(columns)) <= width


def fitted_table(fitted: Fitted[Row], **options: Any) -> Table:
    """An empty rich Table with the fitted style and columns; `options` (title, caption...) go to Table. Its rows
    are laid out by FastTable: they are one-line cells, numbers and names, thousands of them in a long table."""
    style = fitted.style
    table = FastTable(box=style.box, show_edge=style.show_edge, pad_edge=style.pad_edge, **options)
    for column in fitted.columns:
        header = column.short_header if style.short_headers else column.header
        if column.is_name:
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, justify="right", no_wrap=True)
    return table


def add_row(table: Table, fitted: Fitted[Row], row: Row, **options: Any) -> None:
    # Text, not str: names come from user data and must not be read as rich markup such as "[red]".
    table.add_row(*(Text(column.cell(row)) for column in fitted.columns), **options)
