"""The one error type the data layer raises, pointing at the spec field the user has to fix."""

from __future__ import annotations

_MAX_DETAIL = 300


class DataError(ValueError):
    """A problem with the data a run asks for, reported against the spec field that causes it.

    The message is always one line: it ends up in a resource's status and in CLI output, where a traceback
    or a multi-line library message is noise. What comes from the data itself (its column names, a value that
    does not parse, a library's message about the bytes it read) goes into `detail`: the CLI shows it, but a run's
    status in a cluster shows only `public`, the field and the rule, never bytes of the data.
    """

    field: str
    message: str
    detail: str | None

    def __init__(self, field: str, message: str, detail: str | None = None) -> None:
        message = " ".join(message.split())
        detail = " ".join(detail.split()) if detail else None
        # Every value goes to the base class so the error survives pickling on its way back from a Dask worker.
        super().__init__(field, message, detail)
        self.field = field
        self.message = message
        self.detail = detail

    @property
    def public(self) -> str:
        """The field and the rule, without anything read from the data."""
        return f"{self.field}: {self.message}"

    def __str__(self) -> str:
        return f"{self.public}; {self.detail}" if self.detail else self.public


def describe_exception(exc: BaseException) -> str:
    """First line of a library exception, with its type, short enough for a status message."""
    lines = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return detail if len(detail) <= _MAX_DETAIL else detail[: _MAX_DETAIL - 3] + "..."


def name_list(names: list[str] | tuple[str, ...], limit: int = 20) -> str:
    """Comma-separated names, cut after `limit` so 10,000 columns still make a short message."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names) - limit} more)"
