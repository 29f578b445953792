"""The trend table for the terminal: per model and horizon (rows) the trust mean in each run (columns, oldest to
newest), and the change from the first to the newest successful run.

It fits the width it is given (report/fitting.py): when the runs do not all fit, the oldest are left out and the
caption says how many; the newest run and the change always stay, and a number is never cut.
"""

from __future__ import annotations

from functools import partial

from rich.table import Table
from rich.text import Text

from retrodiction.api.history import ScheduleHistory
from retrodiction.report.fitting import Column, Fitted, fit, fitted_table
from retrodiction.report.formatting import MISSING, format_timestamp
from retrodiction.report.trend import FAILED, Trend, TrendRow, slot_labels, trend_of

CHANGE = "Change"
# Failed runs named in the caption, newest first; the HTML page lists them all.
FAILURES_NAMED = 3


def change_text(row: TrendRow) -> str:
    change = row.change
    return MISSING if change is None else f"{change:+.3f}"


def trend_table(history: ScheduleHistory, *, width: int | None = None) -> Table:
    """Rows per horizon and model; without a width every run is shown with full headers."""
    trend = trend_of(history)
    labels = slot_labels(trend.slots)
    columns: list[Column[TrendRow]] = [
        Column("Model", "Model", lambda row: row.model, is_name=True),
        Column("Horizon", "h", lambda row: str(row.horizon)),
        *(Column(header, short, partial(trend.cell, index=i)) for i, (header, short) in enumerate(labels)),
        Column(CHANGE, "Δ", change_text),
    ]
    # Oldest first, and never the newest run: what trust is now stays longest.
    fitted = fit(columns, [header for header, _ in labels[:-1]], trend.rows, width)
    table = fitted_table(
        fitted,
        title=Text(f"Trust over time: {history.schedule}", style="bold"),
        caption=_caption(trend, len(fitted.dropped)),
        header_style="bold",
        caption_justify="left",
    )
    for index, row in enumerate(trend.rows):
        closes_horizon = index + 1 == len(trend.rows) or trend.rows[index + 1].horizon != row.horizon
        table.add_row(*_cells(fitted, row), end_section=closes_horizon)
    return table


def _cells(fitted: Fitted[TrendRow], row: TrendRow) -> list[Text]:
    # Text, not str: model names come from user data and must not be read as rich markup such as "[red]".
    cells = []
    for column in fitted.columns:
        text = column.cell(row)
        style = ""
        if text == FAILED:
            style = "bold red"
        elif column.header == CHANGE and row.change is not None:
            style = "red" if row.change < 0 else "green"
        cells.append(Text(text, style=style))
    return cells


def _caption(trend: Trend, left_out: int) -> Text:
    slots = trend.slots
    if not slots:
        return Text("No runs yet.")
    caption = Text(
        f"Mean trust over the variables each run scored; {len(slots)} runs, times in UTC. "
        "Change: from the first to the newest successful run."
        if trend.rows
        else f"None of the {len(slots)} runs stored results."
    )
    if left_out:
        caption.append(
            f"\n{left_out} older run(s) left out to fit the width (showing the newest {len(slots) - left_out})."
        )
    failed = [slot for slot in slots if slot.phase == "Failed"]
    for slot in failed[::-1][:FAILURES_NAMED]:
        caption.append("\nfailed: ", style="bold red")
        caption.append(f"{format_timestamp(slot.scheduled_time)} {slot.run}: {slot.reason or 'no reason given'}")
    if len(failed) > FAILURES_NAMED:
        caption.append(f"\n... and {len(failed) - FAILURES_NAMED} more failed run(s).")
    return caption
