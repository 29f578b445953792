"""What the report says about the models themselves: where each comes from, its cost, and its intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retrodiction.api.summary import RetrodictionSummary, SummaryCustomModel
from retrodiction.report.ranking import Result, models_in_order


@dataclass(frozen=True)
class IntervalRow:
    """One model's `level`% intervals at one horizon, pooled over variables: coverage is covered / n over all of
    them, the Winkler score the mean over every target with an interval."""

    model: str
    horizon: int
    level: int
    n: int
    coverage: float | None
    winkler: float | None


def interval_rows(results: Sequence[Result]) -> list[IntervalRow]:
    pooled: dict[tuple[str, int, int], tuple[int, float, float]] = {}
    for result in results:
        for interval in result.intervals:
            key = (result.model, result.horizon, interval.level)
            n, covered, winkler = pooled.get(key, (0, 0.0, 0.0))
            if interval.n and interval.coverage is not None and interval.winkler is not None:
                n, covered, winkler = (
                    n + interval.n,
                    covered + interval.coverage * interval.n,
                    winkler + interval.winkler * interval.n,
                )
            pooled[key] = (n, covered, winkler)
    order = {model: index for index, model in enumerate(models_in_order(results))}
    return [
        IntervalRow(model, horizon, level, n, covered / n if n else None, winkler / n if n else None)
        for (model, horizon, level), (n, covered, winkler) in sorted(
            pooled.items(), key=lambda item: (order[item[0][0]], item[0][1], item[0][2])
        )
    ]


@dataclass(frozen=True)
class ModelRow:
    """A model of the run: where it comes from, how it was refitted, and its share of the compute time."""

    name: str
    source: str
    refit: str
    seconds: float | None
    share: float | None
    errors: int
    first_error: str | None


def _describe(custom: SummaryCustomModel | None) -> tuple[str, str]:
    if custom is None:
        return "builtin", "closed form at every origin"
    what = f"statsforecast {custom.model}" if custom.source == "statsforecast" else f"plugin {custom.model}"
    refit = "every origin" if custom.refit_every == 1 else f"every {custom.refit_every} origins, forward between"
    return what, f"{refit}; lookback {custom.lookback}"


def model_rows(summary: RetrodictionSummary) -> list[ModelRow]:
    customs = {model.name: model for model in summary.config.retrodiction.custom_models}
    costs = {cost.model: cost for cost in summary.models}
    total = sum(cost.seconds for cost in summary.models)
    rows = []
    for name in models_in_order(summary.results):
        source, refit = _describe(customs.get(name))
        cost = costs.get(name)
        rows.append(
            ModelRow(
                name=name,
                source=source,
                refit=refit,
                seconds=None if cost is None else cost.seconds,
                share=None if cost is None or total <= 0 else cost.seconds / total,
                errors=0 if cost is None else cost.errors,
                first_error=None if cost is None else cost.first_error,
            )
        )
    return rows
