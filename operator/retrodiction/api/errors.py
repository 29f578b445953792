"""One-line, field-named messages for invalid input, shared by the CLI and the operator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """('spec', 'variables', 2) -> 'spec.variables[2]'."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "<root>"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    value: Any = error.get("input")
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "")
        return f"unknown value {value!r}; expected one of {expected}"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    ctx = error.get("ctx", {})
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        symbol, key = bounds[kind]
        return f"must be {symbol} {ctx.get(key)}, got {value!r}"
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"must have {word} {limit} item(s), got {ctx.get('actual_length')}"
    message = error["msg"]
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    return message


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """The first problem as 'field.path: what is wrong', plus how many more there are."""
    errors = err.errors(include_url=False)
    first = errors[0]
    text = f"{field_path(first['loc'], prefix)}: {_message(first)}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return " ".join(text.split())
