"""`RetrodictionSchedule`: recurring RetrodictionTrainings, modelled on batch/v1 CronJob.

The template is a RetrodictionTraining spec whose window is relative to each scheduled time, so every run scores
the same length of history ending at its own slot, and a caught-up run covers its own slot's window.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from retrodiction.api.cron import CRON_MESSAGE, CRON_PATTERN, NEVER_FIRES_MESSAGE, NEVER_FIRES_RULE, Cron, CronError
from retrodiction.api.status import Conditions, KubeTime, MergePatch, SummaryRef
from retrodiction.api.training import ObjectMeta, RunSpec, _cel, _cel_rules, _Model


@cache
def time_zone_names() -> tuple[str, ...]:
    """IANA time zone names from the pinned tzdata package, so the CRD is the same on every machine."""
    return tuple(sorted(resources.files("tzdata").joinpath("zones").read_text().split()))


# --- the template --------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^([1-9][0-9]*)(h|d|w)$")
_DURATION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_lookback(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"lookback must be a number of hours, days or weeks such as 3650d, got {text!r}")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


class Alignment(StrEnum):
    """Where a run's window ends: at the scheduled time, or at the start of the period holding it (in timeZone),
    so that the window covers whole periods of data of that frequency."""

    SCHEDULED_TIME = "ScheduledTime"
    HOUR = "Hour"
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"
    QUARTER = "Quarter"
    YEAR = "Year"


class RelativeWindowSpec(_Model):
    """The targets of a run scheduled at T: [end - lookback, end), where end is T aligned by alignTo."""

    lookback: str = Field(pattern=_DURATION.pattern, description="History to score before the end: 3650d, 52w, 72h.")
    align_to: Alignment = Alignment.SCHEDULED_TIME
    batch_size_days: int = Field(default=365, gt=0, le=36500)

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str) -> str:
        parse_lookback(value)
        return value


class TemplateSpec(RunSpec):
    """A RetrodictionTraining spec, except that the window is relative to the scheduled time."""

    window: RelativeWindowSpec


class TemplateMetadata(_Model):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class RunTemplate(_Model):
    metadata: TemplateMetadata = Field(default_factory=TemplateMetadata)
    spec: TemplateSpec


# --- the schedule --------------------------------------------------------------------------------------------------


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"  # a slot waits while a run of this schedule is active (and is missed past its deadline)
    REPLACE = "Replace"  # active runs are deleted to start the new slot


class CatchUpPolicy(StrEnum):
    NONE = "None"  # slots the operator did not see in time (see startingDeadlineSeconds) are skipped
    LATEST = "Latest"  # only the most recent missed slot runs (what a CronJob does)
    ALL = "All"  # every missed slot runs, each over its own window, up to `limit` of the most recent


class CatchUpSpec(_Model):
    policy: CatchUpPolicy = CatchUpPolicy.LATEST
    limit: int = Field(default=10, ge=1, le=1000, description="At most this many missed slots run (policy All).")


# The operator treats a smaller value stored before this floor existed as this, with a warning Event.
MIN_STARTING_DEADLINE_SECONDS = 10


class RetrodictionScheduleSpec(_Model):
    schedule: str = Field(
        min_length=1,
        max_length=256,
        json_schema_extra=_cel_rules(
            (f"self.matches(r'{CRON_PATTERN}')", CRON_MESSAGE), (NEVER_FIRES_RULE, NEVER_FIRES_MESSAGE)
        ),
    )
    time_zone: str = Field(
        default="Etc/UTC",
        min_length=1,
        max_length=64,
        description="IANA time zone of the schedule and of alignTo.",
        json_schema_extra=_cel(
            "self in " + "[" + ", ".join(f"'{name}'" for name in time_zone_names()) + "]",
            "timeZone must be an IANA time zone name such as Europe/Berlin or America/New_York",
        ),
    )
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=MIN_STARTING_DEADLINE_SECONDS,
        description="A slot not started within this many seconds of its time is missed. At least "
        f"{MIN_STARTING_DEADLINE_SECONDS}: the operator looks at a schedule every few seconds, and a shorter "
        "deadline would miss most slots (as the CronJob docs warn).",
    )
    successful_runs_history_limit: int = Field(default=3, ge=0, le=1000)
    failed_runs_history_limit: int = Field(default=1, ge=0, le=1000)
    suspend: bool = False
    catch_up: CatchUpSpec = Field(default_factory=CatchUpSpec)
    template: RunTemplate

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            Cron.parse(value)
        except CronError as err:
            raise ValueError(str(err)) from None
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in time_zone_names():
            raise ValueError("timeZone must be an IANA time zone name such as Europe/Berlin or America/New_York")
        return value


# status.active lists at most this many runs (the newest by scheduled time); activeCount counts them all.
MAX_ACTIVE_LISTED = 100


class ActiveRun(_Model):
    name: str
    scheduled_time: KubeTime


class LastSuccessfulRun(_Model):
    """The newest run of the schedule that succeeded, and where its summary is. The ConfigMap goes with the run
    when the history limit deletes it; a summary under spec.output.uri stays, and so does the schedule's own
    history (the ConfigMap `<schedule>-history`)."""

    name: str = Field(max_length=253)
    completion_time: KubeTime | None = None
    summary_ref: SummaryRef | None = None


class RetrodictionScheduleStatus(_Model):
    """Bounded like a run's: counters, times and conditions, and `active` lists only the newest unfinished runs."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    observed_generation: int | None = None
    last_schedule_time: KubeTime | None = Field(default=None, description="The slot of the newest run started.")
    next_schedule_time: KubeTime | None = None
    last_successful_time: KubeTime | None = Field(default=None, description="When the newest successful run ended.")
    last_successful_run: LastSuccessfulRun | None = None
    handled_through: KubeTime | None = Field(
        default=None, description="Every slot at or before this time was started or recorded as missed."
    )
    last_missed_time: KubeTime | None = None
    missed_slots: int = Field(default=0, ge=0, description="Slots skipped for good since the schedule was created.")
    last_trigger: str | None = Field(default=None, description="The trigger annotation value last acted on.")
    active: list[ActiveRun] = Field(default_factory=list, max_length=MAX_ACTIVE_LISTED)
    active_count: int = Field(
        default=0,
        ge=0,
        description=f"Runs this schedule owns (by ownerReference, manual runs included) that are not Succeeded or "
        f"Failed, as of the schedule's last pass; active lists only the newest {MAX_ACTIVE_LISTED} of them by "
        f"scheduled time. The Active printer column.",
    )
    conditions: Conditions = Field(default_factory=list)


class ScheduleStatusPatch(RetrodictionScheduleStatus, MergePatch):
    """A merge patch of a schedule's status: every write of the operator goes through it."""


class RetrodictionSchedule(_Model):
    model_config = ConfigDict(extra="ignore")

    api_version: Literal["training.retrodiction.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["RetrodictionSchedule"]
    metadata: ObjectMeta
    spec: RetrodictionScheduleSpec
