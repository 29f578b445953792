"""An in-memory stand-in for the few API calls a schedule's reconcile pass makes, and a schedule to pass it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from retrodiction.controller.schedules import ScheduleContext, reconcile_schedule
from tests.unit.fake_kube import InMemoryKube, merge_patch


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# A schedule's tests need nothing beyond the in-memory API.
FakeApi = InMemoryKube


def schedule(**spec_changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedule": "0 2 * * *",
        "timeZone": "Europe/Berlin",
        "template": {
            "metadata": {"labels": {"team": "forecasting"}},
            "spec": {
                "variables": ["cpi"],
                "window": {"lookback": "3650d", "alignTo": "Day", "batchSizeDays": 365},
                "data": {"uri": "builtin://macrodata"},
                "dask": {"mode": "local", "workers": 1},
            },
        },
    }
    spec.update(spec_changes)
    return {
        "apiVersion": "training.retrodiction.dev/v1alpha1",
        "kind": "RetrodictionSchedule",
        "metadata": {
            "name": "nightly",
            "namespace": "team-a",
            "uid": "5c3f1d2e-0000-4000-8000-000000000001",
            "generation": 1,
            "creationTimestamp": "2026-06-01T00:00:00Z",
            "annotations": {},
        },
        "spec": spec,
        "status": {},
    }


def tick(api: FakeApi, body: dict[str, Any], now: str, *, apply_status: bool = True) -> None:
    before = len(api.status_patches)
    reconcile_schedule(ScheduleContext(api=api, body=body, now=utc(now)))
    if apply_status:
        for patch in api.status_patches[before:]:
            body["status"] = merge_patch(body["status"], patch)
