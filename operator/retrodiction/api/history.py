"""A schedule's history of results: per slot, trust and MAE per variable, model and horizon, in one ConfigMap.

A schedule's runs (and their summaries) go when its history limits delete them; this compact history stays with
the schedule (its ConfigMap `<schedule>-history` is owned by the schedule), so trust can be followed over weeks
of nightly runs. Each run's driver adds its own slot (the tenant side: it holds the results); the operator only
reads the per-model aggregates, for its gauges, through this model with a byte cap (it may be written by anyone
who can write ConfigMaps in the namespace). `retrodiction report rs/NAME` draws it.

Bounded on every axis: at most MAX_SLOTS slots, MAX_SLOT_CELLS cells of per-variable detail a slot, and the whole
document within one ConfigMap (MAX_HISTORY_BYTES); when a new slot does not fit, older slots give up their
per-variable detail first (their per-model means stay), then the oldest slots go.

Only pydantic is imported here: the operator reads this model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from retrodiction.api.summary import RetrodictionSummary, SummaryResult, Timestamp, this_document
from retrodiction.identity import API_VERSION

HISTORY_KIND: Final = "RetrodictionHistory"
HISTORY_KEY: Final = "history.json"
MAX_SLOTS: Final = 90
MAX_SLOT_CELLS: Final = 4000
# One ConfigMap's data, with room for its metadata.
MAX_HISTORY_BYTES: Final = 900 * 1024
# Trust and MAE kept to this many significant digits: enough for any plot or threshold, and short in JSON.
DIGITS: Final = 5

Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=63)]
Trust = Annotated[float, Field(ge=0.0, le=1.0)]


class _Part(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore", allow_inf_nan=False
    )


class ModelTrend(_Part):
    """One model at one horizon in one slot: the mean over the variables it scored of their trust (mean and 95%
    interval bounds) and MAE. The same aggregate as `retrodiction diff` and the operator's trust gauges."""

    model: ModelName
    horizon: int = Field(ge=1, le=100_000)
    variables: int = Field(ge=0)
    trust: Trust
    lower: Trust
    upper: Trust
    mae: float | None = None


class HistorySlot(_Part):
    """What one run of the schedule gave. A failed run has a slot too (phase Failed, its reason), with what it
    stored when it stored anything. `trust` and `mae` are the per-variable detail, flat in (variable, model,
    horizon) order over `variables` x `models` x `horizons`; None where nothing was scored."""

    scheduled_time: Timestamp
    run: Name
    run_uid: Annotated[str, StringConstraints(max_length=64)] = ""
    phase: Literal["Succeeded", "Failed"]
    reason: Annotated[str, StringConstraints(max_length=128)] | None = None
    summary_config_map: Name | None = None
    summary_uri: Annotated[str, StringConstraints(max_length=2048)] | None = None
    means: list[ModelTrend] = Field(default_factory=list, max_length=64 * 64)
    variables: list[Name] = Field(default_factory=list, max_length=MAX_SLOT_CELLS)
    models: list[ModelName] = Field(default_factory=list, max_length=64)
    horizons: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=64)
    trust: list[Trust | None] = Field(default_factory=list, max_length=MAX_SLOT_CELLS)
    mae: list[float | None] = Field(default_factory=list, max_length=MAX_SLOT_CELLS)
    # Variables of the run beyond MAX_SLOT_CELLS, or whose detail was dropped to keep the history in one ConfigMap.
    variables_left_out: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _cells_match_axes(self) -> HistorySlot:
        cells = len(self.variables) * len(self.models) * len(self.horizons)
        if len(self.trust) != cells or len(self.mae) != cells:
            raise ValueError(f"trust and mae need {cells} values (variables x models x horizons)")
        return self

    def cell(self, variable: int, model: int, horizon: int) -> int:
        return (variable * len(self.models) + model) * len(self.horizons) + horizon

    def without_detail(self) -> HistorySlot:
        return self.model_copy(
            update={
                "variables": [],
                "models": [],
                "horizons": [],
                "trust": [],
                "mae": [],
                "variables_left_out": self.variables_left_out + len(self.variables),
            }
        )


class ScheduleHistory(_Part):
    api_version: str = API_VERSION
    kind: str = HISTORY_KIND
    schedule: Name
    schedule_uid: Annotated[str, StringConstraints(max_length=64)] = ""
    # Oldest first.
    slots: list[HistorySlot] = Field(default_factory=list, max_length=MAX_SLOTS)

    @field_validator("api_version", "kind")
    @classmethod
    def _this_document(cls, value: str, info: ValidationInfo) -> str:
        return this_document(value, info, HISTORY_KIND)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":"), allow_nan=False)


def trust_means(results: Sequence[SummaryResult]) -> tuple[float, float, float, float | None]:
    """The means over `results` (at least one) of trust, its 95% interval's bounds, and MAE (over those that have
    one; None when none does): the aggregate of a model at a horizon that `diff`, the history and the gauges share."""
    count = len(results)
    maes = [r.mae for r in results if r.mae is not None]
    return (
        sum(r.trust.mean for r in results) / count,
        sum(r.trust.lower for r in results) / count,
        sum(r.trust.upper for r in results) / count,
        sum(maes) / len(maes) if maes else None,
    )


def model_means(results: Iterable[SummaryResult]) -> list[ModelTrend]:
    """Per model and horizon, the means over the variables scored (n > 0) of trust, its bounds and MAE."""
    groups: dict[tuple[str, int], list[SummaryResult]] = {}
    for result in results:
        if result.n > 0:
            groups.setdefault((result.model, result.horizon), []).append(result)
    trends = []
    for (model, horizon), members in groups.items():
        trust, lower, upper, mae = trust_means(members)
        trends.append(
            ModelTrend(
                model=model,
                horizon=horizon,
                variables=len(members),
                trust=_round(trust),
                lower=_round(lower),
                upper=_round(upper),
                mae=None if mae is None else _round(mae),
            )
        )
    return sorted(trends, key=lambda trend: (trend.horizon, trend.model))


def slot_of(  # noqa: PLR0913 - a slot's fields, by keyword
    summary: RetrodictionSummary | None,
    *,
    scheduled_time: Any,
    run: str,
    run_uid: str = "",
    phase: Literal["Succeeded", "Failed"] = "Succeeded",
    reason: str | None = None,
    summary_config_map: str | None = None,
    summary_uri: str | None = None,
    max_cells: int = MAX_SLOT_CELLS,
) -> HistorySlot:
    """A run's slot from its summary (None when it stored none): per-model means over every variable, and the
    per-variable detail of the first variables (the run's order) that fit `max_cells`."""
    fields: dict[str, Any] = {
        "scheduled_time": scheduled_time,
        "run": run,
        "run_uid": run_uid,
        "phase": phase,
        "reason": None if reason is None else reason[:128],
        "summary_config_map": summary_config_map,
        "summary_uri": summary_uri,
    }
    if summary is None:
        return HistorySlot(**fields)
    results = summary.results
    variables = list(dict.fromkeys(r.variable for r in results))
    models = list(dict.fromkeys(r.model for r in results))
    horizons = sorted({r.horizon for r in results})
    per_variable = max(1, len(models) * len(horizons))
    kept = variables[: max(0, max_cells // per_variable)]
    at_variable = {variable: i for i, variable in enumerate(kept)}
    at_model = {model: j for j, model in enumerate(models)}
    at_horizon = {horizon: k for k, horizon in enumerate(horizons)}
    cells = len(kept) * len(models) * len(horizons)
    trust: list[float | None] = [None] * cells
    mae: list[float | None] = [None] * cells
    for result in results:
        if result.variable not in at_variable or result.n == 0:
            continue
        index = (at_variable[result.variable] * len(models) + at_model[result.model]) * len(horizons)
        index += at_horizon[result.horizon]
        trust[index] = _round(result.trust.mean)
        mae[index] = None if result.mae is None else _round(result.mae)
    return HistorySlot(
        **fields,
        means=model_means(results),
        variables=kept,
        models=models if kept else [],
        horizons=horizons if kept else [],
        trust=trust,
        mae=mae,
        variables_left_out=len(variables) - len(kept),
    )


def with_slot(history: ScheduleHistory, slot: HistorySlot, *, max_bytes: int = MAX_HISTORY_BYTES) -> ScheduleHistory:
    """The history with `slot` in its place (a slot of the same run replaced, time order kept), cut to MAX_SLOTS
    and to `max_bytes` of JSON: older slots' detail goes first, then the new slot's, then the oldest slots.
    ValueError when the new slot alone, without its detail, is larger than `max_bytes`."""
    kept = [existing for existing in history.slots if not (slot.run_uid and existing.run_uid == slot.run_uid)]
    slots = sorted([*kept, slot], key=_order)[-MAX_SLOTS:]
    while len(history.model_copy(update={"slots": slots}).to_json().encode()) > max_bytes:
        smaller = _shrunk(slots, _order(slot))
        if smaller is None:
            raise ValueError(f"one slot of the history is larger than {max_bytes} bytes even without its detail")
        slots = smaller
    return history.model_copy(update={"slots": slots})


def _order(slot: HistorySlot) -> tuple[Any, str, str]:
    return (slot.scheduled_time, slot.run, slot.run_uid)


def _shrunk(slots: Sequence[HistorySlot], new: tuple[Any, str, str]) -> list[HistorySlot] | None:
    """One step smaller: the oldest other slot with detail loses it, else the new slot does, else the oldest other
    slot goes; None when only the new slot, without detail, is left."""
    others = [index for index, existing in enumerate(slots) if _order(existing) != new]
    mine = next(index for index, existing in enumerate(slots) if _order(existing) == new)
    detailed = [i for i in others if slots[i].variables] + ([mine] if slots[mine].variables else [])
    if detailed:
        index = detailed[0]
        return [*slots[:index], slots[index].without_detail(), *slots[index + 1 :]]
    if others:
        return [existing for index, existing in enumerate(slots) if index != others[0]]
    return None


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, DIGITS - 1 - math.floor(math.log10(abs(value))))
