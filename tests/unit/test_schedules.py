"""One reconcile pass of a RetrodictionSchedule against an in-memory stand-in for the few API calls it makes: the
runs it creates, replays after a crash, the trigger annotation, history limits and the status it writes."""

from __future__ import annotations

from datetime import timedelta

from retrodiction.api.schedule import RetrodictionScheduleSpec
from retrodiction.controller.schedule_runs import run_manifest, run_name
from retrodiction.identity import SCHEDULE_LABEL, TRIGGER_ANNOTATION
from tests.unit.schedule_api import FakeApi, schedule, tick, utc

# June 2, 2026, 02:00 in Berlin (CEST) is 00:00 UTC.
FIRST_SLOT = "2026-06-02T00:00:00"


def test_a_due_slot_starts_a_run_owned_by_the_schedule_over_its_own_window() -> None:
    api, body = FakeApi(), schedule()
    tick(api, body, "2026-06-02T00:00:03")
    (name,) = api.created_runs
    assert name == "nightly-202606020000"
    run = api.runs[name]
    assert run["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]
    assert run["metadata"]["labels"]["team"] == "forecasting"
    assert run["metadata"]["labels"][SCHEDULE_LABEL] == "nightly"
    assert run["metadata"]["annotations"]["training.retrodiction.dev/scheduled-time"] == "2026-06-02T00:00:00Z"
    # alignTo Day in Berlin: the window ends at midnight CEST (22:00 UTC the day before), 3650 days long.
    assert run["spec"]["window"] == {
        "start": "2016-06-03T22:00:00Z",
        "end": "2026-06-01T22:00:00Z",
        "batchSizeDays": 365,
    }
    assert "address" not in run["spec"]["dask"] and run["spec"]["dask"]["mode"] == "local"
    status = body["status"]
    assert status["lastScheduleTime"] == "2026-06-02T00:00:00Z"
    assert status["nextScheduleTime"] == "2026-06-03T00:00:00Z"
    assert status["active"] == [{"name": name, "scheduledTime": "2026-06-02T00:00:00Z"}]
    assert status["activeCount"] == 1
    assert ("Normal", "RunCreated", f"{name} for the slot 2026-06-02T00:00:00Z") in api.events


def test_the_manifest_validates_as_a_training_the_api_server_would_accept() -> None:
    from retrodiction.api.training import RetrodictionTraining

    spec = RetrodictionScheduleSpec.model_validate(schedule()["spec"])
    manifest = run_manifest(schedule()["metadata"], spec, utc(FIRST_SLOT))
    RetrodictionTraining.model_validate(manifest)
    assert not [key for key, value in manifest["spec"].items() if value is None]


def test_a_pass_replayed_after_a_crash_before_the_status_write_creates_no_second_run() -> None:
    api, body = FakeApi(), schedule()
    tick(api, body, "2026-06-02T00:00:03", apply_status=False)  # the status write is lost
    tick(api, body, "2026-06-02T00:00:09")
    assert api.created_runs == ["nightly-202606020000"]
    assert body["status"]["handledThrough"] == "2026-06-02T00:00:00Z"
    assert body["status"]["activeCount"] == 1


def test_an_unchanged_schedule_writes_no_status() -> None:
    api, body = FakeApi(), schedule()
    tick(api, body, "2026-06-02T00:00:03")
    writes = len(api.status_patches)
    tick(api, body, "2026-06-02T00:00:08")
    assert len(api.status_patches) == writes


def test_a_new_trigger_value_starts_one_run_now_whatever_the_schedule() -> None:
    api, body = FakeApi(), schedule(concurrencyPolicy="Forbid")
    body["metadata"]["annotations"][TRIGGER_ANNOTATION] = "1796000000"
    tick(api, body, "2026-06-01T10:15:42.5")
    manual = run_name("nightly", utc(FIRST_SLOT), trigger="1796000000")
    assert api.created_runs == [manual]
    assert api.runs[manual]["metadata"]["annotations"]["training.retrodiction.dev/scheduled-time"] == (
        "2026-06-01T10:15:42Z"
    )
    assert body["status"]["lastTrigger"] == "1796000000"
    tick(api, body, "2026-06-01T10:16:00")
    assert api.created_runs == [manual]


def test_history_keeps_the_newest_successful_and_failed_runs() -> None:
    api, body = FakeApi(), schedule(successfulRunsHistoryLimit=2, failedRunsHistoryLimit=1)
    for day in range(5):
        tick(api, body, (utc(FIRST_SLOT) + timedelta(days=day, seconds=5)).isoformat().replace("+00:00", ""))
        name = api.created_runs[-1]
        phase = "Failed" if day in (1, 3) else "Succeeded"
        api.finish(name, phase, (utc(FIRST_SLOT) + timedelta(days=day, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    tick(api, body, "2026-06-06T12:00:00")
    assert sorted(api.runs) == ["nightly-202606040000", "nightly-202606050000", "nightly-202606060000"]
    assert sorted(api.deleted) == ["nightly-202606020000", "nightly-202606030000"]
    assert body["status"]["lastSuccessfulTime"] == "2026-06-06T01:00:00Z"


def test_forbid_starts_nothing_while_a_run_is_active() -> None:
    api, body = FakeApi(), schedule(concurrencyPolicy="Forbid")
    tick(api, body, "2026-06-02T00:00:03")
    tick(api, body, "2026-06-03T00:00:03")
    assert api.created_runs == ["nightly-202606020000"]
    assert body["status"]["handledThrough"] == "2026-06-02T00:00:00Z"
    assert body["status"]["activeCount"] == 1
    api.finish("nightly-202606020000", "Succeeded", "2026-06-03T00:10:00Z")
    tick(api, body, "2026-06-03T00:10:05")
    assert api.created_runs == ["nightly-202606020000", "nightly-202606030000"]


def test_replace_deletes_the_active_run_for_the_newer_slot() -> None:
    api, body = FakeApi(), schedule(concurrencyPolicy="Replace")
    tick(api, body, "2026-06-02T00:00:03")
    tick(api, body, "2026-06-03T00:00:03")
    assert api.deleted == ["nightly-202606020000"]
    assert list(api.runs) == ["nightly-202606030000"]
    assert body["status"]["activeCount"] == 1


def test_missed_slots_are_announced_and_counted() -> None:
    api, body = FakeApi(), schedule()
    tick(api, body, "2026-06-02T00:00:03")
    api.finish("nightly-202606020000", "Succeeded", "2026-06-02T00:30:00Z")
    tick(api, body, "2026-06-06T09:00:00")  # the operator was away for four nights: Latest runs the newest
    assert api.created_runs[-1] == "nightly-202606060000"
    assert body["status"]["missedSlots"] == 3
    assert body["status"]["lastMissedTime"] == "2026-06-05T00:00:00Z"
    (missed,) = [message for _, reason, message in api.events if reason == "SlotsMissed"]
    assert missed == "3 slot(s) not run (3 NotLatest); the last at 2026-06-05T00:00:00Z"


def test_a_schedule_the_operator_cannot_use_is_marked_invalid_with_the_field_named() -> None:
    api, body = FakeApi(), schedule(timeZone="Mars/Olympus_Mons")
    tick(api, body, "2026-06-02T00:00:03")
    assert api.created_runs == []
    (invalid,) = [c for c in body["status"]["conditions"] if c["type"] == "Invalid"]
    assert invalid["status"] == "True" and invalid["reason"] == "InvalidSchedule"
    assert invalid["message"].startswith("spec.timeZone: ")
    tick(api, body, "2026-06-02T00:00:08")
    assert api.reasons().count("InvalidSchedule") == 1


def test_a_suspended_schedule_starts_nothing_and_says_so() -> None:
    api, body = FakeApi(), schedule(suspend=True)
    tick(api, body, "2026-06-03T00:00:03")
    assert api.created_runs == []
    conditions = {c["type"]: c for c in body["status"]["conditions"]}
    assert conditions["Suspended"]["status"] == "True"
    assert "nextScheduleTime" not in body["status"]


def test_the_status_lists_at_most_a_hundred_active_runs_and_counts_them_all() -> None:
    api, body = FakeApi(), schedule(schedule="* * * * *", catchUp={"policy": "All", "limit": 120})
    tick(api, body, "2026-06-01T02:00:00")
    assert len(api.created_runs) == 120
    assert body["status"]["activeCount"] == 120
    assert len(body["status"]["active"]) == 100
    assert body["status"]["active"][-1]["scheduledTime"] == "2026-06-01T02:00:00Z"


def test_the_status_names_the_newest_successful_run_and_its_summary_even_after_history_deletes_it() -> None:
    api, body = FakeApi(), schedule(successfulRunsHistoryLimit=1, failedRunsHistoryLimit=1)
    for day in range(3):
        tick(api, body, (utc(FIRST_SLOT) + timedelta(days=day, seconds=5)).isoformat().replace("+00:00", ""))
        name = api.created_runs[-1]
        if day == 2:
            api.finish(name, "Failed", "2026-06-04T01:00:00Z")
            continue
        api.finish(name, "Succeeded", f"2026-06-0{day + 2}T01:00:00Z")
        ref = {"configMap": f"{name}-summary", "uri": f"s3://b/runs/{name}/summary.json"}
        api.runs[name]["status"]["summaryRef"] = ref
    tick(api, body, "2026-06-04T12:00:00")
    assert body["status"]["lastSuccessfulRun"] == {
        "name": "nightly-202606030000",
        "completionTime": "2026-06-03T01:00:00Z",
        "summaryRef": {
            "configMap": "nightly-202606030000-summary",
            "uri": "s3://b/runs/nightly-202606030000/summary.json",
        },
    }
    # The history limit deleted the earlier success; a failed run is never named.
    assert "nightly-202606020000" in api.deleted
    tick(api, body, "2026-06-04T12:01:00")
    assert body["status"]["lastSuccessfulRun"]["name"] == "nightly-202606030000"
