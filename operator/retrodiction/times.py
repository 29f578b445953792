"""Time, one way everywhere: every moment the project stores or compares is UTC.

A datetime without a zone means UTC, never the machine's local time: data files usually carry naive timestamps,
users write naive window bounds, and the operator, its drivers and a laptop must agree on what they mean whatever
TZ says. (`datetime.astimezone` on a naive value would assume local time; nothing here calls it on one.)
Kubernetes writes times as RFC 3339 with second precision and a `Z` (metav1.Time); so does everything here.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; a naive one is taken as UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_naive(moment: datetime) -> datetime:
    """`moment` as a naive UTC wall time, the terms numpy and the data's time axis compare in."""
    return as_utc(moment).replace(tzinfo=None)


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises (fractions of a second are dropped)."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def optional_rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


def parse_rfc3339(text: str | None) -> datetime | None:
    """The aware UTC datetime of an RFC 3339 / ISO 8601 string (a `Z` suffix, an offset, or none, meaning UTC);
    None for an absent one. A malformed one raises ValueError."""
    if not text:
        return None
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
