"""FastTable draws the very characters, in the very styles, that rich's Table draws, and takes its own path only for
tables whose rows it can lay out on one line; anything else (cells that wrap, markup, lines between rows) is left to
rich."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from rich import box
from rich.color import ColorSystem
from rich.console import Console, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from retrodiction.report.fast_table import FastTable
from retrodiction.report.table import trust_table
from retrodiction.report.trend_table import trend_table
from tests.histories import nightly_history
from tests.unit.test_report_samples import make_summary


def console(width: int) -> Console:
    return Console(width=width, color_system="truecolor", force_terminal=True, legacy_windows=False)


def drawn(render: Callable[..., RenderResult], table: Table, width: int) -> list[str]:
    """Each character the table puts on the screen with the escape codes of its style, as a terminal receives it,
    whatever segments carry them."""
    out = console(width)
    segments = list(render(table, out, out.options))
    assert all(isinstance(segment, Segment) for segment in segments)
    return [
        (segment.style or Style.null()).render(char, color_system=ColorSystem.TRUECOLOR)
        for segment in segments
        if isinstance(segment, Segment)
        for char in segment.text
    ]


def assert_drawn_as_rich_draws_it(table: Table, width: int) -> None:
    fast = drawn(FastTable.__rich_console__, table, width)
    reference = drawn(Table.__rich_console__, table, width)
    assert Text.from_ansi("".join(fast)).plain == Text.from_ansi("".join(reference)).plain
    assert fast == reference


def takes_its_own_path(table: FastTable, width: int, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the table is drawn without rich's layout of rows (Table._render)."""

    def rich_layout(*_: object) -> None:
        raise AssertionError("rich laid the rows out")

    with monkeypatch.context() as patched:
        patched.setattr(Table, "_render", rich_layout)
        try:
            drawn(FastTable.__rich_console__, table, width)
        except AssertionError:
            return False
    return True


@pytest.mark.parametrize("width", [40, 60, 80, 120, 250])
def test_the_trust_table_is_drawn_as_rich_draws_it(width: int) -> None:
    table = trust_table(make_summary(), width=width)
    assert_drawn_as_rich_draws_it(table, width)


@pytest.mark.parametrize("width", [80, 250])
def test_the_trust_table_of_a_run_takes_the_fast_path(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    table = trust_table(make_summary(), width=width, limit=5)
    assert isinstance(table, FastTable)
    assert takes_its_own_path(table, width, monkeypatch)


@pytest.mark.parametrize("width", [60, 80, 250])
def test_the_trend_table_is_drawn_as_rich_draws_it(width: int) -> None:
    assert_drawn_as_rich_draws_it(trend_table(nightly_history(), width=width), width)


def table_of(rows: list[list[Text]], **options: object) -> FastTable:
    table = FastTable(title=Text("Title", style="bold"), caption="a [i]caption[/i]", header_style="bold", **options)  # type: ignore[arg-type]
    table.add_column("Name", overflow="fold")
    table.add_column("[b]Value[/b]", justify="right", no_wrap=True, style="cyan")
    table.add_column("Other", justify="right", no_wrap=True)
    for index, row in enumerate(rows):
        table.add_row(*row, style="bold green" if index % 3 == 0 else None, end_section=index % 2 == 1)
    return table


# A box whose header, middle and last rows differ in every part (rich's own boxes share the middle and the foot).
EVERY_PART_ITS_OWN = box.Box("╔═╦╗\n║a║║\n╠═╬╣\n│b││\n├─┼┤\n├─┼┤\n┃c┃┃\n└─┴┘\n")
PLAIN_ROWS = [
    [Text("gdp"), Text("0.512"), Text("12/40")],
    [Text("unemployment rate"), Text("1234.5"), Text("–")],
    [Text("売上高"), Text("", style="red"), Text("60.0%")],
    [Text("a b  c"), Text("0.025–0.975"), Text("0")],
]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"box": box.SIMPLE_HEAD, "show_edge": False, "pad_edge": False},
        {"box": box.ROUNDED, "border_style": "blue", "style": "on grey11"},
        {"box": box.MINIMAL, "row_styles": ["", "dim"]},
        {"box": None},
        {"box": box.ASCII, "padding": (0, 2)},
        {"box": box.SIMPLE, "show_edge": False, "row_styles": ["on black", "on grey15"]},
        {"box": EVERY_PART_ITS_OWN},
    ],
    ids=[
        "heavy-head",
        "compact",
        "rounded-styled",
        "row-styles",
        "no-box",
        "ascii-padded",
        "blank-dividers",
        "own-box",
    ],
)
@pytest.mark.parametrize("width", [50, 80])
def test_one_line_rows_take_the_fast_path_and_are_drawn_as_rich_draws_them(
    options: dict[str, object], width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = table_of(PLAIN_ROWS, **options)
    assert takes_its_own_path(table, width, monkeypatch)
    assert_drawn_as_rich_draws_it(table, width)


@pytest.mark.parametrize(
    ("rows", "options", "width"),
    [
        (PLAIN_ROWS, {}, 30),  # the names must wrap
        ([[Text("gdp "), Text("1"), Text("2")]], {}, 80),  # rich strips the trailing space
        ([[Text(" gdp"), Text("1"), Text("2")]], {}, 80),
        ([[Text("two\nlines"), Text("1"), Text("2")]], {}, 80),
        ([[Text("tab\there"), Text("1"), Text("2")]], {}, 80),
        ([[Text.from_markup("[red]g[/red]dp"), Text("1"), Text("2")]], {}, 80),  # spans
        ([[Text("gdp", justify="center"), Text("1"), Text("2")]], {}, 80),
        ([[Text("gdp"), Text("1"), Text("2")]], {"show_lines": True}, 80),
        ([[Text("gdp"), Text("1"), Text("2")]], {"expand": True}, 80),
        ([[Text("gdp"), Text("1"), Text("2")]], {"padding": (1, 1)}, 80),
        ([[Text("gdp"), Text("1"), Text("2")]], {"min_width": 60}, 80),
    ],
    ids=[
        "wrapping",
        "trailing-space",
        "leading-space",
        "newline",
        "tab",
        "spans",
        "own-justify",
        "show-lines",
        "expand",
        "vertical-padding",
        "min-width",
    ],
)
def test_anything_else_is_left_to_rich(
    rows: list[list[Text]], options: dict[str, object], width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = table_of(rows, **options)
    assert not takes_its_own_path(table, width, monkeypatch)
    assert_drawn_as_rich_draws_it(table, width)


def test_string_cells_are_left_to_rich_which_reads_their_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    table = FastTable()
    table.add_column("a")
    table.add_row("[red]x[/red]")
    assert not takes_its_own_path(table, 80, monkeypatch)
    assert_drawn_as_rich_draws_it(table, 80)


def test_a_header_that_wraps_is_left_to_rich() -> None:
    table = FastTable(title="t")
    table.add_column("two\nlines")
    table.add_row(Text("x"))
    assert_drawn_as_rich_draws_it(table, 80)


def test_a_table_without_rows_is_drawn_as_rich_draws_it() -> None:
    table = table_of([])
    assert_drawn_as_rich_draws_it(table, 80)


ALPHABET = "abcxyz 0123456789.-–%/_売上é"


def random_table(seed: int) -> FastTable:
    generate = random.Random(seed)

    def text() -> Text:
        content = "".join(generate.choice(ALPHABET) for _ in range(generate.randint(0, 14)))
        if generate.random() < 0.9:
            content = content.strip()
        return Text(content, style=generate.choice(["", "italic", "red on white"]))

    options = {
        "box": generate.choice([box.HEAVY_HEAD, box.SIMPLE_HEAD, box.ROUNDED, box.SQUARE, None]),
        "show_edge": generate.random() < 0.5,
        "pad_edge": generate.random() < 0.5,
        "row_styles": generate.choice([[], ["dim", ""]]),
    }
    columns = generate.randint(1, 5)
    title, caption = generate.choice([None, "A title"]), generate.choice([None, "x"])
    table = FastTable(title=title, caption=caption, **options)  # type: ignore[arg-type]
    for index in range(columns):
        table.add_column(f"c{index}", justify=generate.choice(["left", "right"]), overflow="fold")
    for _ in range(generate.randint(1, 12)):
        style = generate.choice([None, "bold green", "red"])
        table.add_row(*(text() for _ in range(columns)), style=style, end_section=generate.random() < 0.3)
    return table


RANDOM_WIDTHS = (20, 40, 100)


@pytest.mark.parametrize("seed", range(40))
def test_random_tables_are_drawn_as_rich_draws_them(seed: int) -> None:
    table = random_table(seed)
    for width in RANDOM_WIDTHS:
        assert_drawn_as_rich_draws_it(table, width)


def test_most_random_tables_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Else the test above would compare rich with itself.
    fast = [takes_its_own_path(random_table(seed), width, monkeypatch) for seed in range(40) for width in RANDOM_WIDTHS]
    assert sum(fast) >= len(fast) // 2
