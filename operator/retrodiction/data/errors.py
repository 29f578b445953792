"""The one error type the data layer raises, pointing at the spec field the user has to fix."""

from __future__ import annotations

_MAX_DETAIL = 300


class DataError(ValueError):
    """A problem with the data a run asks for, reported against the spec field that causes it.

    The message is always one line: it ends up in a resource's status and in CLI output, where a traceback
    or a multi-line library message is noise.
    """

    field: str
    message: str

    def __init__(self, field: str, message: str) -> None:
        message = " ".join(message.split())
        # Both values go to the base class so the error survives pickling on its way back from a Dask worker.
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def describe_exception(exc: BaseException) -> str:
    """First line of a library exception, with its type, short enough for a status message."""
    lines = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return detail if len(detail) <= _MAX_DETAIL else detail[: _MAX_DETAIL - 3] + "..."


def name_list(names: list[str] | tuple[str, ...], limit: int = 20) -> str:
    """Comma-separated names, cut after `limit` so 10,000 columns still make a short message."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names) - limit} more)"
