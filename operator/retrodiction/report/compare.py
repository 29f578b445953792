"""Two summaries side by side (`retrodiction diff A B`): trust and MAE per model and horizon, or per variable too,
and the checks that make a drop in trust an exit code for CI and alerting.

Only what both summaries scored is compared: a variable, model or horizon in one of them only, and a cell without
a scored target in either (its trust is the prior's 0.5, which says nothing), are left out and counted.
Per model and horizon, each figure is the mean over the variables compared; its interval is the mean of the
variables' 95% credible intervals, the same aggregate as the trust gauges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from retrodiction.api.history import trust_means
from retrodiction.api.summary import RetrodictionSummary, SummaryResult

Key = tuple[str, str, int]  # variable, model, horizon


class Bound(StrEnum):
    """Which trust figure the checks read: the posterior mean, or the lower end of its 95% interval."""

    MEAN = "mean"
    LOWER = "lower"


@dataclass(frozen=True)
class TrustFigures:
    mean: float
    lower: float
    upper: float
    mae: float | None

    def at(self, bound: Bound) -> float:
        return self.mean if bound is Bound.MEAN else self.lower


@dataclass(frozen=True)
class Change:
    """One model at one horizon, over `variables` variables (or one: `variable` is set)."""

    model: str
    horizon: int
    variables: int
    a: TrustFigures
    b: TrustFigures
    variable: str | None = None

    def drop(self, bound: Bound) -> float:
        return self.a.at(bound) - self.b.at(bound)

    @property
    def label(self) -> str:
        where = f"{self.model} at horizon {self.horizon}"
        return f"{self.variable}: {where}" if self.variable is not None else where


@dataclass(frozen=True)
class Comparison:
    changes: list[Change]
    # Cells of one summary that the other lacks, or that either scored no target of.
    left_out: int


@dataclass(frozen=True)
class Checks:
    """Fail when B's trust (at `bound`) is below `min_trust`, or below A's by more than `max_drop`; only the
    `models` named (all when empty)."""

    min_trust: float | None = None
    max_drop: float | None = None
    bound: Bound = Bound.MEAN
    models: tuple[str, ...] = ()

    def failures(self, changes: Iterable[Change]) -> list[str]:
        """One line per failed check, naming the model, horizon (and variable), the figures and the limit."""
        lines = []
        for change in changes:
            if self.models and change.model not in self.models:
                continue
            now, drop = change.b.at(self.bound), change.drop(self.bound)
            if self.min_trust is not None and now < self.min_trust:
                lines.append(f"{change.label}: trust {self.bound} {now:.4f} is below the floor {self.min_trust:g}")
            if self.max_drop is not None and drop > self.max_drop:
                lines.append(
                    f"{change.label}: trust {self.bound} fell by {drop:.4f} ({change.a.at(self.bound):.4f} -> "
                    f"{now:.4f}), more than {self.max_drop:g}"
                )
        return lines


def compare(a: RetrodictionSummary, b: RetrodictionSummary, *, per_variable: bool = False) -> Comparison:
    """The cells both summaries scored, per model and horizon (mean over variables), or per cell."""
    mine, theirs = _scored(a.results), _scored(b.results)
    shared = [key for key in mine if key in theirs]
    left_out = len(a.results) + len(b.results) - 2 * len(shared)
    if per_variable:
        changes = [
            Change(key[1], key[2], 1, _figures([mine[key]]), _figures([theirs[key]]), variable=key[0]) for key in shared
        ]
        return Comparison(changes, left_out)
    groups: dict[tuple[str, int], list[Key]] = {}
    for key in shared:
        groups.setdefault((key[1], key[2]), []).append(key)
    changes = [
        Change(model, horizon, len(keys), _figures([mine[k] for k in keys]), _figures([theirs[k] for k in keys]))
        for (model, horizon), keys in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))
    ]
    return Comparison(changes, left_out)


def _scored(results: Iterable[SummaryResult]) -> dict[Key, SummaryResult]:
    return {(r.variable, r.model, r.horizon): r for r in results if r.n > 0}


def _figures(results: Sequence[SummaryResult]) -> TrustFigures:
    return TrustFigures(*trust_means(results))
