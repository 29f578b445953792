"""metav1.Condition semantics over plain lists of dicts, so the controller can patch them as they are."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from retrodiction.times import rfc3339

ConditionStatus = Literal["True", "False", "Unknown"]

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


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    type: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str,
    now: datetime,
    observed_generation: int | None = None,
) -> list[dict[str, Any]]:
    """A new list with condition `type` set; the input is left untouched.

    lastTransitionTime moves only when the status changes, so it tells when the condition last flipped; reason,
    message and observedGeneration always follow the latest call. An existing condition keeps its position and a
    new one is appended, so a status patch does not reorder what `kubectl describe` shows.
    """
    if not _REASON.match(reason) or len(reason) > MAX_MESSAGE_CHARS:
        raise ValueError(f"condition reason must be a CamelCase word, got {reason!r}")
    text = _status_text(status)
    result: list[dict[str, Any]] = []
    found = False
    for existing in conditions:
        condition = dict(existing)
        if condition.get("type") == type:
            found = True
            if condition.get("status") != text or not condition.get("lastTransitionTime"):
                condition["lastTransitionTime"] = rfc3339(now)
            condition.update(status=text, reason=reason, message=cap_message(message))
            _set_generation(condition, observed_generation)
        result.append(condition)
    if not found:
        condition = {
            "type": type,
            "status": text,
            "reason": reason,
            "message": cap_message(message),
            "lastTransitionTime": rfc3339(now),
        }
        _set_generation(condition, observed_generation)
        result.append(condition)
    return result


def _set_generation(condition: dict[str, Any], observed_generation: int | None) -> None:
    if observed_generation is None:
        condition.pop("observedGeneration", None)
    else:
        condition["observedGeneration"] = observed_generation


def get_condition(conditions: Sequence[Mapping[str, Any]], type: str) -> Mapping[str, Any] | None:
    for condition in conditions:
        if condition.get("type") == type:
            return condition
    return None


def is_true(conditions: Sequence[Mapping[str, Any]], type: str) -> bool:
    condition = get_condition(conditions, type)
    return condition is not None and condition.get("status") == "True"
