"""metav1.Condition semantics over typed conditions (api/status.py's Condition), for runs and schedules alike."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from retrodiction.api.status import Condition, ConditionStatus

# Every message the operator writes is capped, so a stack trace cannot push the status towards etcd's limit.
MAX_MESSAGE_CHARS = 1024
_ELLIPSIS = "…"
# metav1.Condition's validation of reason: CamelCase, a machine-readable word, at most 1024 characters.
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


def cap_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    if len(message) <= limit:
        return message
    return message[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def _status_text(status: ConditionStatus | bool) -> ConditionStatus:
    if isinstance(status, bool):
        return "True" if status else "False"
    if status not in ("True", "False", "Unknown"):
        raise ValueError(f"condition status must be True, False or Unknown, got {status!r}")
    return status


@dataclass(frozen=True)
class ConditionUpdate:
    """What a condition should say now."""

    type: str
    status: ConditionStatus | bool
    reason: str
    message: str = ""
    observed_generation: int | None = None


def _condition(update: ConditionUpdate, status: ConditionStatus, since: datetime) -> Condition:
    # observedGeneration is left unset rather than null when unknown: a merge patch of the whole list then drops a
    # stale one, and the written condition compares equal to the one read back.
    fields = {"type": update.type, "status": status, "reason": update.reason, "message": cap_message(update.message)}
    if update.observed_generation is None:
        return Condition(**fields, last_transition_time=since)
    return Condition(**fields, last_transition_time=since, observed_generation=update.observed_generation)


def set_condition(conditions: Sequence[Condition], update: ConditionUpdate, now: datetime) -> list[Condition]:
    """A new list with condition `update.type` set; the input is left untouched.

    lastTransitionTime moves only when the status changes, so it tells when the condition last flipped; reason,
    message and observedGeneration always follow the latest call. An existing condition keeps its position and a
    new one is appended, so a status patch does not reorder what `kubectl describe` shows.
    """
    if not _REASON.match(update.reason) or len(update.reason) > MAX_MESSAGE_CHARS:
        raise ValueError(f"condition reason must be a CamelCase word, got {update.reason!r}")
    text = _status_text(update.status)
    result: list[Condition] = []
    found = False
    for existing in conditions:
        if existing.type != update.type:
            result.append(existing)
            continue
        found = True
        kept = existing.last_transition_time
        result.append(_condition(update, text, now if existing.status != text or kept is None else kept))
    if not found:
        result.append(_condition(update, text, now))
    return result


def get_condition(conditions: Sequence[Condition], type: str) -> Condition | None:
    return next((condition for condition in conditions if condition.type == type), None)


def is_true(conditions: Sequence[Condition], type: str) -> bool:
    condition = get_condition(conditions, type)
    return condition is not None and condition.status == "True"
