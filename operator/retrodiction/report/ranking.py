"""Which model each variable should trust most, read from the results of a summary document."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retrodiction.api.summary import RetrodictionSummary, SummaryResult, parse_summary

Result = SummaryResult
# A summary as its model, or as parsed JSON (read through the model, so a foreign document fails naming the field).
SummaryInput = RetrodictionSummary | Mapping[str, Any]


def as_summary(summary: SummaryInput) -> RetrodictionSummary:
    return summary if isinstance(summary, RetrodictionSummary) else parse_summary(summary)


def variables_in_order(results: Iterable[Result]) -> list[str]:
    """Variables in the order they first appear, which is the order the run was asked for."""
    return list(dict.fromkeys(result.variable for result in results))


def models_in_order(results: Iterable[Result]) -> list[str]:
    return list(dict.fromkeys(result.model for result in results))


def horizons_in_order(results: Iterable[Result]) -> list[int]:
    return sorted({result.horizon for result in results})


def ranking_key(result: Result) -> tuple[float, float, str]:
    """Higher trust first; on equal trust the lower MASE, then the model name, so the order is total."""
    return (-result.trust.mean, math.inf if result.mase is None else result.mase, result.model)


@dataclass(frozen=True)
class RankedGroup:
    """The results of one variable at one horizon, most trusted model first."""

    variable: str
    horizon: int
    results: tuple[Result, ...]

    @property
    def best(self) -> Result:
        return self.results[0]


def ranked_groups(results: Iterable[Result]) -> list[RankedGroup]:
    """Groups per variable (document order) and horizon (ascending), each ranked by `ranking_key`."""
    grouped: dict[str, dict[int, list[Result]]] = {}
    for result in results:
        grouped.setdefault(result.variable, {}).setdefault(result.horizon, []).append(result)
    return [
        RankedGroup(variable, horizon, tuple(sorted(members, key=ranking_key)))
        for variable, by_horizon in grouped.items()
        for horizon, members in sorted(by_horizon.items())
    ]


def best_models(summary: SummaryInput) -> list[dict[str, Any]]:
    """Per variable (document order) and horizon (ascending): the result row of its best model, as JSON.

    Best means the highest trust mean; ties go to the lower MASE (a missing MASE counts as worst), then to the
    model name in alphabetical order.
    """
    return [group.best.to_dict() for group in ranked_groups(as_summary(summary).results)]


def busiest_variables(results: Sequence[Result], limit: int) -> list[str]:
    """The `limit` variables with most scored targets (summed over models and horizons), in document order."""
    totals: dict[str, int] = {}
    for result in results:
        totals[result.variable] = totals.get(result.variable, 0) + result.n
    order = list(totals)
    position = {variable: index for index, variable in enumerate(order)}
    chosen = set(sorted(order, key=lambda variable: (-totals[variable], position[variable]))[:limit])
    return [variable for variable in order if variable in chosen]
