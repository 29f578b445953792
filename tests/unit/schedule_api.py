"""An in-memory stand-in for the few API calls a schedule's reconcile pass makes, and a schedule to pass it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from retrodiction.controller.kube import CreateRefusedError
from retrodiction.controller.schedules import ScheduleContext, reconcile_schedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class FakeApi:
    """Runs by name; a create of an existing name is refused as the API server does (409 -> False), and every
    create is refused with `refusal` while it is set (a quota)."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.refusal: str | None = None
        self.created: list[str] = []
        self.deleted: list[str] = []
        self.status_patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str]] = []

    def list_runs(self, namespace: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(r) for r in self.runs.values()]

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        run = self.runs.get(name)
        return copy.deepcopy(run) if run is not None else None

    def create_run(self, manifest: Mapping[str, Any]) -> bool:
        if self.refusal is not None:
            raise CreateRefusedError(self.refusal)
        name = manifest["metadata"]["name"]
        if name in self.runs:
            return False
        self.runs[name] = copy.deepcopy(dict(manifest))
        self.created.append(name)
        return True

    def delete_run(self, namespace: str, name: str) -> None:
        self.runs.pop(name, None)
        self.deleted.append(name)

    def patch_schedule_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self.status_patches.append(dict(patch))

    def event(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        self.events.append((reason, message))

    def finish(self, name: str, phase: str, completed: str) -> None:
        self.runs[name]["status"] = {"phase": phase, "completionTime": completed}

    def reasons(self) -> list[str]:
        return [reason for reason, _ in self.events]


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
    reconcile_schedule(ScheduleContext(api=api, body=body, now=utc(now)))  # type: ignore[arg-type]
    if apply_status:
        for patch in api.status_patches[before:]:
            body["status"] = {**body["status"], **{k: v for k, v in patch.items() if v is not None}}
            body["status"] = {k: v for k, v in body["status"].items() if patch.get(k, v) is not None}
