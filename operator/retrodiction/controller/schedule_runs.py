"""The RetrodictionTraining a schedule starts for one slot: a pure function of the schedule and the slot.

The name comes from the slot alone, so a restarted operator that tries to start a slot again gets a conflict from
the API server instead of a second run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from retrodiction import ownership
from retrodiction.api.children import required_field, run_label_value, suffixed_name
from retrodiction.api.schedule import RetrodictionScheduleSpec
from retrodiction.controller.schedule_times import run_window
from retrodiction.identity import (
    API_VERSION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PART_OF,
    PART_OF_LABEL,
    SCHEDULE_KIND,
    SCHEDULE_LABEL,
    SCHEDULED_TIME_ANNOTATION,
    TRAINING_KIND,
    TRIGGERED_BY_ANNOTATION,
)
from retrodiction.times import as_utc, rfc3339


def run_name(schedule_name: str, slot: datetime, trigger: str | None = None) -> str:
    """`<schedule>-<yyyymmddhhmm>` (UTC) for a slot; `<schedule>-manual-<digest of the trigger>` for a trigger."""
    if trigger is not None:
        return suffixed_name(schedule_name, f"-manual-{hashlib.sha256(trigger.encode()).hexdigest()[:8]}")
    return suffixed_name(schedule_name, as_utc(slot).strftime("-%Y%m%d%H%M"))


def owned_by_schedule(run: Mapping[str, Any], schedule_uid: str) -> bool:
    return ownership.controller_uid(run, SCHEDULE_KIND) == schedule_uid


def run_manifest(
    schedule_meta: Mapping[str, Any], spec: RetrodictionScheduleSpec, slot: datetime, *, trigger: str | None = None
) -> dict[str, Any]:
    name = required_field(schedule_meta, "name")
    start, end = run_window(spec, slot)
    template = spec.template
    # exclude_none: an unset optional field is absent in a manifest; the API server refuses nulls.
    run_spec = template.spec.model_dump(by_alias=True, exclude={"window"}, exclude_none=True, mode="json")
    run_spec["window"] = {
        "start": rfc3339(start),
        "end": rfc3339(end),
        "batchSizeDays": template.spec.window.batch_size_days,
    }
    annotations = {**template.metadata.annotations, SCHEDULED_TIME_ANNOTATION: rfc3339(slot)}
    if trigger is not None:
        annotations[TRIGGERED_BY_ANNOTATION] = trigger
    labels = {
        **template.metadata.labels,
        MANAGED_BY_LABEL: MANAGED_BY,
        PART_OF_LABEL: PART_OF,
        SCHEDULE_LABEL: run_label_value(name),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": TRAINING_KIND,
        "metadata": {
            "name": run_name(name, slot, trigger),
            "namespace": required_field(schedule_meta, "namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [ownership.owner_reference(API_VERSION, SCHEDULE_KIND, schedule_meta)],
        },
        "spec": run_spec,
    }
