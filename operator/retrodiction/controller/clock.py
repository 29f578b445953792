"""The operator's notion of now: the system clock, or for tests a time read from a file they move forward.

Schedules depend on wall-clock time; with RETRODICTION_CLOCK_FILE an e2e test can pass days in seconds (catch-up
after downtime, daylight-saving nights) against the real API server without waiting for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from retrodiction.times import as_utc, utc_now

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return utc_now()


def file_clock(path: Path) -> Clock:
    """Now as written in `path` (ISO 8601; naive means UTC), read at every call."""

    def now() -> datetime:
        return as_utc(datetime.fromisoformat(path.read_text().strip()))

    return now


def clock_for(clock_file: Path | None) -> Clock:
    return system_clock if clock_file is None else file_clock(clock_file)
