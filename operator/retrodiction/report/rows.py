"""The trust table for scripts: its rows as one JSON document (`retrodiction train --format json`).

A row is a result of the summary document with its fields and names unchanged (docs/reference/summary.md), so a
field the summary gains appears here too, plus `rank`: 1 for the most trusted model of its variable and horizon.
Rows come in the table's order: variables as the run listed them, horizons ascending, models by rank.
"""

from __future__ import annotations

from typing import Any

from retrodiction.report.ranking import Result, SummaryInput, as_summary, ranked_groups, variables_in_order


def table_document(summary: SummaryInput, *, limit: int | None = None) -> dict[str, Any]:
    """`{"run": NAME, "variablesLeftOut": N, "rows": [...]}`; `limit` keeps the first `limit` variables."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    parsed = as_summary(summary)
    variables = variables_in_order(parsed.results)
    kept = set(variables if limit is None else variables[:limit])
    groups = [group for group in ranked_groups(parsed.results) if group.variable in kept]
    return {
        "run": parsed.run.name,
        "variablesLeftOut": len(variables) - len(kept),
        "rows": [_row(result, rank) for group in groups for rank, result in enumerate(group.results, start=1)],
    }


def _row(result: Result, rank: int) -> dict[str, Any]:
    fields = result.to_dict()
    # Grouped as the table reads: which variable and horizon, the rank within it, then the model and its scores.
    grouping = {key: fields.pop(key) for key in ("variable", "horizon")}
    return {**grouping, "rank": rank, **fields}
