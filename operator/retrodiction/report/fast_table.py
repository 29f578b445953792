"""A rich Table that lays out its rows of one-line cells itself, more than ten times faster than rich does.

rich renders each cell through a Padding and a Text wrapped to the column's width: the 375 rows (3,000 cells) of
`retrodiction train`'s table took 0.15-0.2 s on one machine and 0.6-0.8 s on a slower one, the largest serial cost
of the command after its run and its summary; this path lays them out in 0.04-0.06 s on the slower one
(docs/benchmarks.md). When every row cell is a plain one-line Text and the columns fit the console at their natural
widths (the tables of report/fitting.py, whose numbers never wrap), the layout is arithmetic: each cell is its text,
justified and padded, in one style. This class does that for the rows and leaves to rich everything else: the
header, title and caption, column widths that must shrink, cells that wrap, and any table using a feature this path
does not know (it is then rendered by Table itself). Its output is the same characters in the same styles as
Table's (tests/unit/test_fast_table.py checks that)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style, StyleType
from rich.table import Table
from rich.text import Text


class FastTable(Table):
    """A rich Table; rows of one-line plain cells are laid out without rich's per-cell rendering."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._single_line_widths(console, options)
        if widths is None:
            yield from super().__rich_console__(console, options)
            return
        render_options = options.update(width=sum(widths) + self._extra_width, highlight=self.highlight, height=None)
        header = self._header_lines(console, render_options, widths)
        if header is None:  # a header that wraps: rich lays the table out after all
            yield from super().__rich_console__(console, options)
            return
        if self.title:
            title_style = Style.pick_first(self.title_style, "table.title")
            yield from _annotation(console, render_options, self.title, title_style, self.title_justify)
        yield from self._body(console, render_options, widths, header)
        if self.caption:
            caption_style = Style.pick_first(self.caption_style, "table.caption")
            yield from _annotation(console, render_options, self.caption, caption_style, self.caption_justify)

    # -- when the fast path applies, and its widths ---------------------------------------------------------

    def _plain_layout(self) -> bool:
        """Only the features laid out here: one header, no footer, no lines or leading between rows, no vertical
        padding, natural widths (no expand, fixed, minimum or ratio widths)."""
        top, _, bottom, _ = self.padding
        return (
            self.show_header
            and not self.show_footer
            and not self.show_lines
            and not self.leading
            and not self.expand
            and not self.collapse_padding
            and self.width is None
            and self.min_width is None
            and top == 0
            and bottom == 0
            and all(
                column.width is None
                and column.min_width is None
                and column.max_width is None
                and column.ratio is None
                and column.justify in ("left", "right")
                for column in self.columns
            )
        )

    def _single_line_widths(self, console: Console, options: ConsoleOptions) -> list[int] | None:
        """Each column's width with its padding, as rich would choose it, when every row cell is a one-line Text
        rich would not wrap or cut and the columns fit at their natural widths; None otherwise."""
        if not self.columns or not self.rows or not self._plain_layout():
            return None
        available = options.max_width - self._extra_width
        header_options = options.update_width(available)
        widths = []
        for index, column in enumerate(self.columns):
            padding = sum(self._cell_padding(index))
            # The header as rich measures it (it may hold markup): a handful of cells, unlike the rows.
            widest = Measurement.get(console, header_options, Padding(column.header, (0, padding, 0, 0))).maximum
            for cell in column._cells:
                length = _single_line_length(cell)
                if length is None:
                    return None
                widest = max(widest, length + padding)
            widths.append(widest or 1)
        return widths if sum(widths) <= available else None

    # -- rendering ------------------------------------------------------------------------------------------

    def _header_lines(
        self, console: Console, options: ConsoleOptions, widths: Sequence[int]
    ) -> list[list[Segment]] | None:
        """The header row's cells rendered by rich (a handful of cells); None when one takes more than a line."""
        cells = []
        for index, (width, column) in enumerate(zip(widths, self.columns, strict=True)):
            style = console.get_style(self.header_style or "") + console.get_style(column.header_style)
            left, right = self._cell_padding(index)
            lines = console.render_lines(
                Padding(column.header, (0, right, 0, left)),
                options.update(
                    width=width,
                    justify=column.justify,
                    no_wrap=column.no_wrap,
                    overflow=column.overflow,
                    height=None,
                    highlight=column.highlight,
                ),
                style=style,
            )
            if len(lines) != 1:
                return None
            cells.append(lines[0])
        return cells

    def _body(
        self,
        console: Console,
        options: ConsoleOptions,
        widths: Sequence[int],
        header: Sequence[list[Segment]],
    ) -> Iterator[Segment]:
        """Borders, the header row, then each row as one segment a cell, as Table._render draws them."""
        table_style = console.get_style(self.style or "")
        border_style = table_style + console.get_style(self.border_style or "")
        safe_box = console.safe_box if self.safe_box is None else self.safe_box
        box = self.box.substitute(options, safe=safe_box) if self.box else None
        new_line = Segment.line()
        show_edge = self.show_edge
        if box and show_edge:
            yield Segment(box.get_top(widths), border_style)
            yield new_line
        head_edges = (box.head_left, box.head_vertical, box.head_right) if box else None
        yield from _line(header, head_edges, border_style, Style.null(), show_edge)
        if box:
            yield Segment(box.get_row(widths, "head", edge=show_edge), border_style)
            yield new_line
        layouts = [
            _Layout(width, *self._cell_padding(index), console.get_style(column.style or ""), column.justify == "right")
            for index, (width, column) in enumerate(zip(widths, self.columns, strict=True))
        ]
        # Each cell's style is its column's plus its row's: a table has a few distinct row styles, added once each.
        cell_styles: dict[Style, list[Style]] = {}
        last_row = len(self.rows) - 1
        for index, row in enumerate(self.rows):
            row_style = console.get_style(self.get_row_style(console, index))
            styles = cell_styles.get(row_style)
            if styles is None:
                styles = cell_styles[row_style] = [layout.style + row_style for layout in layouts]
            cells = [
                _cell(console, cast(Text, column._cells[index]), layout, style)  # _single_line_widths checked
                for column, layout, style in zip(self.columns, layouts, styles, strict=True)
            ]
            if box:
                edges = (
                    (box.foot_left, box.foot_vertical, box.foot_right)
                    if index == last_row
                    else (box.mid_left, box.mid_vertical, box.mid_right)
                )
            else:
                edges = None
            yield from _line(cells, edges, border_style, row_style, show_edge)
            if box and row.end_section and index != last_row:
                yield Segment(box.get_row(widths, "row", edge=show_edge), border_style)
                yield new_line
        if box and show_edge:
            yield Segment(box.get_bottom(widths), border_style)
            yield new_line

    def _cell_padding(self, index: int) -> tuple[int, int]:
        """Left and right padding of a column's cells (Table._get_cells, without collapse_padding)."""
        _, right, _, left = self.padding
        if not self.pad_edge:
            left = 0 if index == 0 else left
            right = 0 if index == len(self.columns) - 1 else right
        return left, right


def _single_line_length(cell: object) -> int | None:
    """The width of a cell rich would lay out on one line as it is: a Text without spans, justify or wrap of its
    own, line break, tab, or space at either end (rich strips or expands those); None for any other cell."""
    if not isinstance(cell, Text) or cell.spans or cell.justify or cell.overflow or cell.no_wrap is not None:
        return None
    plain = cell.plain
    if "\t" in plain or plain != plain.strip() or (plain and plain.splitlines() != [plain]):
        return None
    return cell_len(plain)


@dataclass(frozen=True)
class _Layout:
    """A column's cells: their width with padding, the padding on each side, their style, their justification."""

    width: int
    left: int
    right: int
    style: Style
    right_justified: bool


def _cell(console: Console, cell: Text, layout: _Layout, style: Style) -> list[Segment]:
    """A one-line cell as rich draws it: padding in the cell's `style` (its column's and its row's), then its text
    justified, in the text's own style on top of the cell's."""
    plain = cell.plain
    gap = " " * (layout.width - layout.left - layout.right - cell_len(plain))
    text = gap + plain if layout.right_justified else plain + gap
    left, right = " " * layout.left, " " * layout.right
    if not cell.style:
        return [Segment(left + text + right, style)]
    return [Segment(left, style), Segment(text, style + console.get_style(cell.style)), Segment(right, style)]


def _line(
    cells: Sequence[list[Segment]],
    edges: tuple[str, str, str] | None,
    border_style: Style,
    row_style: Style,
    show_edge: bool,
) -> Iterator[Segment]:
    """One line of a row: its cells between the box's edges and dividers (a blank divider takes the row's
    background, as in Table._render)."""
    if edges is None:
        for cell in cells:
            yield from cell
        yield Segment.line()
        return
    left, vertical, right = edges
    divider = (
        Segment(vertical, border_style)
        if vertical.strip()
        else Segment(vertical, row_style.background_style + border_style)
    )
    if show_edge:
        yield Segment(left, border_style)
    for position, cell in enumerate(cells):
        if position:
            yield divider
        yield from cell
    if show_edge:
        yield Segment(right, border_style)
    yield Segment.line()


def _annotation(
    console: Console, options: ConsoleOptions, text: str | Text, style: StyleType, justify: JustifyMethod
) -> RenderResult:
    """The title or caption, as Table renders it."""
    rendered = console.render_str(text, style=style, highlight=False) if isinstance(text, str) else text
    return console.render(rendered, options=options.update(justify=justify))
