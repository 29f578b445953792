"""`retrodiction report SOURCE`: the trust table and the HTML report of a summary that exists already: a file,
any fsspec URI, or a run in the cluster (`rt/NAME`, `NAMESPACE/NAME`), also as `kubectl retrodiction report`.
With several sources, or a schedule (`rs/NAME`, its history), trust over time across the runs (trend_command.py)."""

from __future__ import annotations

import argparse

from rich.text import Text

from retrodiction.api.history import ScheduleHistory
from retrodiction.driver.summary_configmaps import MAX_SUMMARY_BYTES
from retrodiction.local_training import BadInputError, show_results
from retrodiction.summary_sources import LoadedSummary, SourceError, load_schedule_history, load_summary
from retrodiction.terminal import console


def report(args: argparse.Namespace) -> int:
    """Read the summary, write the HTML report if asked, and show the table (or its rows as JSON)."""
    if len(args.sources) > 1:
        from retrodiction.trend_command import report_trend

        return report_trend(args)
    schedule = _schedule_history(args, args.sources[0])
    if schedule is not None:
        from retrodiction.trend_command import show_history

        show_history(schedule[0], args, origin=schedule[1])
        return 0
    loaded = load_source(args, args.sources[0])
    if args.html:
        from retrodiction.report.html_report import write_html_report

        write_html_report(loaded.summary, args.html)
    show_results(loaded.summary, output_format=args.format, top=args.top, quiet=args.quiet)
    if not args.quiet:
        # soft_wrap: a long path stays on one line, to be copied.
        line = f"summary: {loaded.origin}" + (f"  report: {args.html}" if args.html else "")
        console(stderr=True).print(line, markup=False, soft_wrap=True)
    return 0


def _schedule_history(args: argparse.Namespace, source: str) -> tuple[ScheduleHistory, str] | None:
    """A schedule's history (`rs/NAME`): trust over its runs, drawn like several summaries'."""
    try:
        return load_schedule_history(source, namespace=args.namespace)
    except SourceError as err:
        raise BadInputError(str(err)) from None


def load_source(args: argparse.Namespace, source: str) -> LoadedSummary:
    """The summary `source` names (`--namespace`, `--max-bytes` apply); a note on stderr, unless `--quiet`, when
    the run did not succeed. A source that gives none is bad input: one line, exit code 2."""
    try:
        loaded = load_summary(source, namespace=args.namespace, max_bytes=args.max_bytes or MAX_SUMMARY_BYTES)
    except SourceError as err:
        raise BadInputError(str(err)) from None
    if loaded.warning and not args.quiet:
        # Text, not markup: the warning quotes the run's status, which its namespace's users can write.
        console(stderr=True).print(Text.assemble(("note: ", "yellow"), loaded.warning))
    return loaded
