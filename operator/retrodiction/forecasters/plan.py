"""A custom model as a run computes it: its spec and the lookback it is given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CRD's pydantic models: a tenth of a second to import in a worker that runs no custom model
    from retrodiction.api.training import CustomModel


@dataclass(frozen=True)
class CustomModelPlan:
    """`lookback` is the spec's, or the admin's row cap when the spec leaves it unset (all history up to the cap)."""

    spec: CustomModel
    lookback: int

    @classmethod
    def of(cls, spec: CustomModel, max_history_rows: int) -> CustomModelPlan:
        lookback = spec.lookback if spec.lookback is not None else max_history_rows
        return cls(spec=spec, lookback=min(lookback, max_history_rows))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def refit_every(self) -> int:
        return self.spec.refit_every or 1

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(sorted(self.spec.levels))

    def warmup_rows(self, horizons: Sequence[int]) -> int:
        """Rows before a batch's first target that its origins' histories reach: the earliest origin lies max(h)
        rows back, its refit point up to refitEvery - 1 origins before that, and its history `lookback` rows long."""
        return max(horizons) + (self.refit_every - 1) + (self.lookback - 1)


def custom_warmup_rows(plans: Sequence[CustomModelPlan], horizons: Sequence[int]) -> int:
    return max((plan.warmup_rows(horizons) for plan in plans), default=0)
