"""Cron expressions as RetrodictionSchedule reads them: the five fields of Vixie cron, as Kubernetes' CronJob
(robfig/cron) parses them, and the few properties of an expression the schedule's time logic depends on.

croniter does the calendar arithmetic; this module decides what an expression means where cron dialects differ,
so that the same reading holds for the admission check, the operator and the docs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Final

from croniter import croniter

MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DAYS = "sun|mon|tue|wed|thu|fri|sat"
# The most days each month can have (February in a leap year): a day-of-month above it never comes.
_DAYS_IN_MONTH: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _field(value: str) -> str:
    """One cron field: `*` (or `?`, the same) or values and ranges, each with an optional step, separated by
    commas."""
    item = rf"([*?]|({value})(-({value}))?)(/[1-9][0-9]*)?"
    return rf"{item}(,{item})*"


# Five fields with their ranges, or a macro; the same expression is a CEL rule, so the API server refuses a
# malformed schedule with a message instead of the operator finding out later.
CRON_PATTERN: Final = (
    "(?i)^("
    + "|".join(MACROS)
    + r"|"
    + r"\s+".join(
        (
            _field("[0-5]?[0-9]"),
            _field("[01]?[0-9]|2[0-3]"),
            _field("0?[1-9]|[12][0-9]|3[01]"),
            _field(f"0?[1-9]|1[0-2]|{_MONTHS}"),
            _field(f"[0-7]|{_DAYS}"),
        )
    )
    + ")$"
)
CRON_MESSAGE: Final = (
    "schedule must be a cron expression of five fields (minute hour day-of-month month day-of-week, "
    "e.g. '30 2 * * *') or one of " + ", ".join(MACROS)
)
_CRON = re.compile(CRON_PATTERN)

NEVER_FIRES_MESSAGE: Final = "schedule names no day that exists (no listed day-of-month comes in a listed month)"
# The same check as Cron.can_fire for plain lists of days and months with a star day-of-week, as a CEL rule (ranges
# and steps are left to the operator, which marks such a schedule Invalid). Day 30 comes in every month but
# February and day 31 only in the 31-day ones, so no listed day comes exactly when the months are all February and
# the days 30 or 31, or the months are February or 30-day ones and the day 31: two regular expressions, cheap
# enough for the API server's cost budget.
_STAR_DAY_OF_WEEK = r"\s+(\*|\?|\*/1)$"
_FEBRUARY_ONLY = r"(?i)^\S+\s+\S+\s+(30|31)(,(30|31))*\s+(0?2|feb)(,(0?2|feb))*" + _STAR_DAY_OF_WEEK
_SHORT_MONTHS_ONLY = (
    r"(?i)^\S+\s+\S+\s+31(,31)*\s+(0?[2469]|11|feb|apr|jun|sep|nov)(,(0?[2469]|11|feb|apr|jun|sep|nov))*"
    + _STAR_DAY_OF_WEEK
)
NEVER_FIRES_RULE: Final = f"!self.matches(r'{_FEBRUARY_ONLY}') && !self.matches(r'{_SHORT_MONTHS_ONLY}')"


def _is_star(field: str) -> bool:
    return any(item in ("*", "*/1") for item in field.split(","))


class CronError(ValueError):
    """An expression that is not five cron fields, or one that names no time that ever comes."""


@dataclass(frozen=True)
class Cron:
    """A parsed expression. Build it with `Cron.parse`."""

    minute: str
    hour: str
    day_of_month: str
    month: str
    day_of_week: str

    @classmethod
    def parse(cls, expression: str) -> Cron:
        text = expression.strip()
        if not _CRON.match(text):
            raise CronError(CRON_MESSAGE)
        # `?` is `*` (robfig/cron and the CronJob docs); croniter takes it only in the day fields.
        fields = MACROS.get(text.lower(), text).replace("?", "*").split()
        cron = cls(*fields)
        if not cron.can_fire:
            raise CronError(NEVER_FIRES_MESSAGE)
        return cron

    @property
    def fields(self) -> str:
        return " ".join((self.minute, self.hour, self.day_of_month, self.month, self.day_of_week))

    @property
    def wildcard_time(self) -> bool:
        """`*` or `*/n` in the minute or hour field (also @hourly): Vixie cron's "wildcard" jobs, which keep their
        interval through both passes of a repeated hour instead of being fixed-time jobs that run once."""
        return self.minute.startswith("*") or self.hour.startswith("*")

    @property
    def day_or(self) -> bool:
        """Whether a day matches on day-of-month OR day-of-week: only when both are restricted. A star in either
        makes the rule AND, as in robfig/cron's `dayMatches`, where a star is `*` or `?` with no step or a step
        of 1: `0 0 1 * */1` runs on the 1st only (croniter alone would read `*/1` as a restriction and run
        daily). `*/2` is a restriction, as in robfig/cron; Vixie cron would call it a star."""
        return not (_is_star(self.day_of_month) or _is_star(self.day_of_week))

    @cached_property
    def _expanded(self) -> list[list[int | str]]:
        try:
            expanded: list[list[int | str]] = [list(values) for values in croniter.expand(self.fields)[0]]
        except (ValueError, KeyError) as err:  # croniter's errors derive from ValueError; names map through dicts
            raise CronError(f"{CRON_MESSAGE}: {err}") from None
        return expanded

    @property
    def can_fire(self) -> bool:
        """Whether any day ever matches. With OR both fields can match, and every weekday comes. With AND the
        weekday comes in some year for every date that exists (February 29 included, over 400 years), so the
        expression fires unless no listed day-of-month exists in any listed month (`0 0 30 2 *`, `0 0 31 4 *`)."""
        if self.day_or:
            return True
        _, _, days, months, _ = self._expanded
        day_numbers = range(1, 32) if days == ["*"] else [int(day) for day in days]
        month_numbers = range(1, 13) if months == ["*"] else [int(month) for month in months]
        return any(day <= _DAYS_IN_MONTH[month - 1] for day in day_numbers for month in month_numbers)

    def iterator(self, start: datetime) -> croniter:
        """croniter over wall-clock times from `start` (naive), with this module's day rule."""
        return croniter(self.fields, start, day_or=self.day_or)
