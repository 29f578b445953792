"""Which model each variable should trust most, read from the results of a summary document."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Result = Mapping[str, Any]


def results_of(summary: Mapping[str, Any]) -> list[Result]:
    return list(summary.get("results") or [])


def variables_in_order(results: Iterable[Result]) -> list[Any]:
    """Variables in the order they first appear, which is the order the run was asked for."""
    return list(dict.fromkeys(result["variable"] for result in results))


def models_in_order(results: Iterable[Result]) -> list[str]:
    return list(dict.fromkeys(str(result["model"]) for result in results))


def horizons_in_order(results: Iterable[Result]) -> list[int]:
    return sorted({int(result["horizon"]) for result in results})


def ranking_key(result: Result) -> tuple[float, float, str]:
    """Higher trust first; on equal trust the lower MASE, then the model name, so the order is total."""
    mase = result.get("mase")
    return (
        -float(result["trust"]["mean"]),
        math.inf if mase is None else float(mase),
        str(result["model"]),
    )


@dataclass(frozen=True)
class RankedGroup:
    """The results of one variable at one horizon, most trusted model first."""

    variable: Any
    horizon: int
    results: tuple[Result, ...]

    @property
    def best(self) -> Result:
        return self.results[0]


def ranked_groups(results: Iterable[Result]) -> list[RankedGroup]:
    """Groups per variable (document order) and horizon (ascending), each ranked by `ranking_key`."""
    grouped: dict[Any, dict[int, list[Result]]] = {}
    for result in results:
        grouped.setdefault(result["variable"], {}).setdefault(int(result["horizon"]), []).append(result)
    return [
        RankedGroup(variable, horizon, tuple(sorted(members, key=ranking_key)))
        for variable, by_horizon in grouped.items()
        for horizon, members in sorted(by_horizon.items())
    ]


def best_models(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per variable (document order) and horizon (ascending): a copy of the result row of its best model.

    Best means the highest trust mean; ties go to the lower MASE (a missing MASE counts as worst), then to the
    model name in alphabetical order.
    """
    return [dict(group.best) for group in ranked_groups(results_of(summary))]


def busiest_variables(results: Sequence[Result], limit: int) -> list[Any]:
    """The `limit` variables with most scored targets (summed over models and horizons), in document order."""
    totals: dict[Any, int] = {}
    for result in results:
        totals[result["variable"]] = totals.get(result["variable"], 0) + int(result.get("n") or 0)
    order = list(totals)
    position = {variable: index for index, variable in enumerate(order)}
    chosen = set(sorted(order, key=lambda variable: (-totals[variable], position[variable]))[:limit])
    return [variable for variable in order if variable in chosen]
