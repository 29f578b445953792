"""Text forms of summary values shared by the terminal table and the HTML report."""

from __future__ import annotations

import math
from datetime import datetime

from retrodiction.times import as_utc

MISSING = "–"


def format_probability(value: float | None) -> str:
    return MISSING if value is None or math.isnan(value) else f"{value:.3f}"


def format_interval(lower: float | None, upper: float | None) -> str:
    if lower is None or upper is None or math.isnan(lower) or math.isnan(upper):
        return MISSING
    return f"{lower:.3f}–{upper:.3f}"


def format_percent(value: float | None) -> str:
    return MISSING if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def format_metric(value: float | None) -> str:
    """Error metrics come in the data's own units, from 1e-4 to 1e6, so precision follows magnitude."""
    if value is None or math.isnan(value):
        return MISSING
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e6 or magnitude < 1e-3:
        return f"{value:.3e}"
    if magnitude >= 100:
        return f"{value:.1f}"
    return f"{value:.3f}"


def format_ratio(part: int | None, whole: int | None) -> str:
    if part is None or whole is None:
        return MISSING
    return f"{part}/{whole}"


def format_timestamp(moment: datetime | None) -> str:
    """In UTC; midnight timestamps (the usual window bounds) read better as plain dates."""
    if moment is None:
        return MISSING
    moment = as_utc(moment)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def format_duration(began: datetime | None, finished: datetime | None) -> str:
    if began is None or finished is None:
        return MISSING
    seconds = round((finished - began).total_seconds())
    if seconds < 0:
        return MISSING
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
