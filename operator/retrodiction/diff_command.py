"""`retrodiction diff A B`: two summaries side by side, and an exit code for CI and alerting when a model's trust
in B is below a floor or fell from A by more than a margin (report/compare.py says what is compared)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table
from rich.text import Text

from retrodiction.api.summary import RetrodictionSummary
from retrodiction.local_training import DEFAULT_TOP, BadInputError
from retrodiction.report.compare import Bound, Change, Checks, Comparison, compare
from retrodiction.report.fitting import Column, add_row, fit, fitted_table
from retrodiction.report.formatting import format_interval, format_metric, format_probability
from retrodiction.report_command import load_source
from retrodiction.terminal import console

EXIT_SAME, EXIT_CHECK_FAILED = 0, 1


def diff(args: argparse.Namespace) -> int:
    checks = _checks(args)
    a, b = (_load(args, source) for source in (args.a, args.b))
    _require_models(checks.models, a, b)
    comparison = _filtered(compare(a, b, per_variable=args.per_variable), args.horizon)
    if not comparison.changes:
        raise BadInputError(f"{args.a} and {args.b} have no scored result in common to compare")
    failures = checks.failures(comparison.changes)
    if args.format == "json":
        sys.stdout.write(json.dumps(_document(args, comparison, checks, failures), indent=2) + "\n")
    elif not args.quiet:
        out = console()
        out.print(_table(args, comparison, checks.bound, out.width))
    notes = console(stderr=True)
    shown = failures[: args.top or DEFAULT_TOP]
    for line in shown:
        # One line each, however narrow the terminal: CI logs and alert rules read them.
        notes.print(Text.assemble(("check failed: ", "bold red"), line), soft_wrap=True)
    if len(failures) > len(shown):
        notes.print(f"... and {len(failures) - len(shown)} more failed check(s) (--format json lists them all)")
    return EXIT_CHECK_FAILED if failures else EXIT_SAME


def _checks(args: argparse.Namespace) -> Checks:
    for option, value in (("--min-trust", args.min_trust), ("--max-drop", args.max_drop)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise BadInputError(f"{option}: must be between 0 and 1 (a trust), got {value}")
    return Checks(args.min_trust, args.max_drop, Bound(args.on), tuple(args.model or ()))


def _load(args: argparse.Namespace, source: str) -> RetrodictionSummary:
    return load_source(args, source).summary


def _require_models(models: tuple[str, ...], a: RetrodictionSummary, b: RetrodictionSummary) -> None:
    for model in models:
        for name, summary in (("A", a), ("B", b)):
            if not any(result.model == model for result in summary.results):
                raise BadInputError(f"--model {model}: summary {name} has no results of this model")


def _filtered(comparison: Comparison, horizon: int | None) -> Comparison:
    if horizon is None:
        return comparison
    return Comparison([c for c in comparison.changes if c.horizon == horizon], comparison.left_out)


def _columns(bound: Bound, *, per_variable: bool) -> tuple[Column[Change], ...]:
    columns: tuple[Column[Change], ...] = (
        Column("Model", "Model", lambda c: c.model, is_name=True),
        Column("Horizon", "h", lambda c: str(c.horizon)),
        Column("Variables", "Vars", lambda c: str(c.variables)),
        Column("Trust A", "A", lambda c: format_probability(c.a.mean)),
        Column("Trust B", "B", lambda c: format_probability(c.b.mean)),
        Column(f"Change ({bound})", f"Δ {bound}", lambda c: f"{c.b.at(bound) - c.a.at(bound):+.3f}"),
        Column("95% interval A", "95% CI A", lambda c: format_interval(c.a.lower, c.a.upper)),
        Column("95% interval B", "95% CI B", lambda c: format_interval(c.b.lower, c.b.upper)),
        Column("MAE A", "MAE A", lambda c: format_metric(c.a.mae)),
        Column("MAE B", "MAE B", lambda c: format_metric(c.b.mae)),
    )
    if per_variable:
        name = Column[Change]("Variable", "Variable", lambda c: c.variable or "", is_name=True)
        columns = (name, *(column for column in columns if column.header != "Variables"))
    return columns


# Left out first when the table is too narrow: the change in trust and its figures stay longest.
DROP_ORDER = ("MAE A", "MAE B", "Variables", "95% interval A", "95% interval B")


def _table(args: argparse.Namespace, comparison: Comparison, bound: Bound, width: int) -> Table:
    changes = comparison.changes
    if args.per_variable:
        # The largest drops first, where someone looking for a regression starts.
        changes = sorted(changes, key=lambda change: -change.drop(bound))[: args.top or DEFAULT_TOP]
    fitted = fit(_columns(bound, per_variable=args.per_variable), DROP_ORDER, changes, width)
    table = fitted_table(
        fitted,
        title=Text(f"Trust: {args.a} (A) -> {args.b} (B)", style="bold"),
        caption=_caption(args, comparison, fitted.dropped),
        header_style="bold",
        caption_justify="left",
    )
    for change in changes:
        add_row(table, fitted, change, style="red" if change.drop(bound) > 0 else None)
    return table


def _caption(args: argparse.Namespace, comparison: Comparison, dropped: list[str]) -> str:
    scope = (
        "Per variable" if args.per_variable else "Mean over the variables both scored (intervals: the mean of each's)"
    )
    caption = f"{scope}; rows where B's trust fell in red."
    if comparison.left_out:
        caption += f"\n{comparison.left_out} result(s) in one summary only, or without a scored target, left out."
    if dropped:
        caption += f"\nLeft out to fit the width: {', '.join(dropped)}."
    return caption


def _document(args: argparse.Namespace, comparison: Comparison, checks: Checks, failures: list[str]) -> dict[str, Any]:
    return {
        "a": args.a,
        "b": args.b,
        "perVariable": args.per_variable,
        "leftOut": comparison.left_out,
        "checks": {"minTrust": checks.min_trust, "maxDrop": checks.max_drop, "on": str(checks.bound)},
        "failures": failures,
        "rows": [_row(change) for change in comparison.changes],
    }


def _row(change: Change) -> dict[str, Any]:
    row: dict[str, Any] = {} if change.variable is None else {"variable": change.variable}
    row |= {"model": change.model, "horizon": change.horizon, "variables": change.variables}
    for side, figures in (("a", change.a), ("b", change.b)):
        row[side] = {
            "trust": {"mean": figures.mean, "lower": figures.lower, "upper": figures.upper},
            "mae": figures.mae,
        }
    return row
