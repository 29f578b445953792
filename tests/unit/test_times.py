"""One time module: a naive datetime means UTC whatever the machine's zone, and every stored time is RFC 3339 UTC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from retrodiction.report.formatting import format_timestamp
from retrodiction.times import as_utc, optional_rfc3339, parse_rfc3339, rfc3339, utc_naive

PLUS_TWO = timezone(timedelta(hours=2))


def test_a_naive_datetime_is_taken_as_utc() -> None:
    assert as_utc(datetime(2026, 3, 8, 10, 30)) == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
    assert utc_naive(datetime(2026, 3, 8, 10, 30)) == datetime(2026, 3, 8, 10, 30)


def test_an_aware_datetime_is_converted_to_utc() -> None:
    moment = datetime(2026, 3, 8, 12, 30, tzinfo=PLUS_TWO)
    assert as_utc(moment) == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
    assert as_utc(moment).tzinfo is UTC
    assert utc_naive(moment) == datetime(2026, 3, 8, 10, 30)


def test_rfc3339_writes_utc_to_the_second_as_kubernetes_does() -> None:
    assert rfc3339(datetime(2026, 3, 8, 12, 30, 5, 999_999, tzinfo=PLUS_TWO)) == "2026-03-08T10:30:05Z"
    assert rfc3339(datetime(2026, 3, 8, 10, 30)) == "2026-03-08T10:30:00Z"
    assert optional_rfc3339(None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-08T10:30:00Z", datetime(2026, 3, 8, 10, 30, tzinfo=UTC)),
        ("2026-03-08T12:30:00+02:00", datetime(2026, 3, 8, 10, 30, tzinfo=UTC)),
        ("2026-03-08T10:30:00", datetime(2026, 3, 8, 10, 30, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_parse_rfc3339_gives_aware_utc(text: str | None, expected: datetime | None) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is UTC


def test_parse_rfc3339_refuses_a_malformed_time() -> None:
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_rfc3339("yesterday")


def test_the_report_shows_an_offset_time_in_utc() -> None:
    # It printed the wall time of the offset with a Z, two hours off.
    assert format_timestamp(datetime(2026, 3, 8, 12, 30, tzinfo=PLUS_TWO)) == "2026-03-08 10:30:00Z"
    assert format_timestamp(datetime(2026, 3, 8, 10, 30)) == "2026-03-08 10:30:00Z"
    assert format_timestamp(datetime(2026, 3, 8, tzinfo=UTC)) == "2026-03-08"


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs TZ support")
@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_naive_times_mean_utc_on_a_machine_in_another_zone(zone: str) -> None:
    # CI machines run in UTC, where reading a naive time as local time goes unnoticed: run under a zone with an
    # offset, and first prove the zone took effect (a missing zone file silently means UTC).
    program = """
import datetime, json, time
from retrodiction.summary import SummaryAccumulator  # noqa: F401  (the summary's writer imports cleanly)
from retrodiction.times import as_utc, rfc3339, utc_naive
naive = datetime.datetime(2026, 7, 1, 12, 0)
print(json.dumps({
    "offset": time.localtime(1782907200).tm_gmtoff,
    "rfc3339": rfc3339(naive),
    "utc_naive": utc_naive(naive).isoformat(),
    "as_utc": as_utc(naive).isoformat(),
}))
"""
    result = subprocess.run(
        [sys.executable, "-c", program], env={**os.environ, "TZ": zone}, capture_output=True, text=True, check=True
    )
    seen = json.loads(result.stdout)
    assert seen["offset"] != 0
    assert seen["rfc3339"] == "2026-07-01T12:00:00Z"
    assert seen["utc_naive"] == "2026-07-01T12:00:00"
    assert seen["as_utc"] == "2026-07-01T12:00:00+00:00"


@pytest.mark.skipif(
    os.environ.get("TZ", "UTC") in ("UTC", "Etc/UTC", ""),
    reason="checked when `make test` reruns the unit tier under TZ",
)
def test_the_zone_named_by_tz_took_effect() -> None:
    # `make test` runs the unit tier again under TEST_ZONES (Makefile) so that a naive time read as local time fails
    # somewhere; a zone file missing from the machine would make those runs UTC again, silently.
    zone = ZoneInfo(os.environ["TZ"])
    january, july = datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC)
    for moment in (january, july):
        expected = moment.astimezone(zone).utcoffset()
        assert expected is not None
        assert expected != timedelta(0)
        assert time.localtime(moment.timestamp()).tm_gmtoff == expected.total_seconds()
