"""`retrodiction report SOURCE SOURCE...`: trust over time across several summaries, each source one run.

The summaries become an in-memory schedule history (api/history.py), one slot per summary at the end of its
window, so they render through the same functions as a schedule's own history (report/trend.py): `show_history`
is what any source of a history calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from retrodiction.api.history import MAX_SLOTS, ScheduleHistory, slot_of, with_slot
from retrodiction.local_training import BadInputError
from retrodiction.report_command import load_source
from retrodiction.summary_sources import LoadedSummary
from retrodiction.terminal import console


def report_trend(args: argparse.Namespace) -> int:
    if args.top is not None:
        raise BadInputError("--top: the variables of one summary; several summaries show each model's trust")
    loaded = [(source, load_source(args, source)) for source in args.sources]
    history = history_of(loaded)
    if len(history.slots) < len(loaded) and not args.quiet:
        left_out = len(loaded) - len(history.slots)
        console(stderr=True).print(
            f"note: the {left_out} oldest summaries left out (a history holds at most {MAX_SLOTS} runs)",
            markup=False,
        )
    show_history(history, args, origin="summaries: " + ", ".join(item.origin for _, item in loaded))
    return 0


def history_of(loaded: Sequence[tuple[str, LoadedSummary]]) -> ScheduleHistory:
    """One slot per summary at the end of its window (ties keep the order given), named after its run or else
    its source. A run that failed but stored what finished (a warning says so) is a failed slot."""
    names = {item.summary.run.name for _, item in loaded}
    name = names.pop() if len(names) == 1 and "" not in names else f"{len(loaded)} summaries"
    history = ScheduleHistory(schedule=name[:253])
    for source, item in loaded:
        summary = item.summary
        slot = slot_of(
            summary,
            scheduled_time=summary.run.window.end,
            run=(summary.run.name or source)[:253],
            phase="Failed" if item.warning else "Succeeded",
            reason=item.warning,
        )
        history = with_slot(history, slot)
    return history


def show_history(history: ScheduleHistory, args: argparse.Namespace, *, origin: str) -> None:
    """The HTML page if asked (`--html`), the trend table or its JSON (`--format`) on stdout, and `origin` as a
    note on stderr unless `--quiet`."""
    from retrodiction.report.trend import show_trend, trend_document, write_trend_html

    if args.html:
        write_trend_html(history, args.html)
    if args.format == "json":
        sys.stdout.write(json.dumps(trend_document(history), indent=2) + "\n")
        sys.stdout.flush()
    elif not args.quiet:
        show_trend(history)
    if not args.quiet:
        # soft_wrap: long paths stay on one line, to be copied.
        line = origin + (f"  report: {args.html}" if args.html else "")
        console(stderr=True).print(line, markup=False, soft_wrap=True)
