"""RetrodictionSchedule on the real API server. The operator reads the time from a file (RETRODICTION_CLOCK_FILE)
that the tests move forward, so nights, downtime and daylight-saving changes pass in seconds; its runs are
computed in the operator (spec.dask.mode=local) on a synthetic daily dataset covering every window.

The tests play in 2030, years after the schedules are created. Each schedule is created suspended and first seen
at its test's start time, so the slots between its real creation and then are behind it (skipped as suspended),
and what follows does not depend on the day the tests run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from selenium import webdriver

from retrodiction.api.children import schedule_selector
from retrodiction.api.cron import NEVER_FIRES_MESSAGE
from retrodiction.api.history import ScheduleHistory
from retrodiction.cli import main
from retrodiction.data import make_random_walks, write_dataset
from retrodiction.identity import GROUP, TRIGGER_ANNOTATION, VERSION
from retrodiction.kube_client import as_dict
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import OperatorProcess, running_operator
from retrodiction_harness.waiting import eventually
from tests.browser import figure_sizes, severe_entries
from tests.e2e.runs import (
    api_message,
    applied_without_drift,
    apply_as_gitops,
    custom,
    events_of,
    kubectl,
    listed_items,
    wait_for_phase,
)

SCHEDULES = "retrodictionschedules"
RUNS = "retrodictiontrainings"


class FileClock:
    """The operator's clock: whatever time this file says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(datetime.now(UTC))

    def set(self, moment: datetime) -> None:
        self.path.write_text(moment.isoformat())


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> FileClock:
    return FileClock(tmp_path_factory.mktemp("clock") / "now")


@pytest.fixture(scope="module")
def operator(
    kube: Kube, clock: FileClock, node: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    # `node` runs the runs' driver pods: this module's tests must not depend on an earlier module having started it.
    with running_operator(kube, tmp_path_factory.mktemp("operator"), clock_file=str(clock.path)) as process:
        yield process


@pytest.fixture(scope="module")
def daily_data(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Daily walks from 2030-01-01 to mid-2031: every window the schedules here ask for has data."""
    path = tmp_path_factory.mktemp("data") / "daily.parquet"
    write_dataset(make_random_walks(2, 560, start="2030-01-01", seed=9), str(path))
    return path.as_uri()


@dataclass(frozen=True)
class Schedules:
    """What a schedule test works with: its namespace on the cluster, the operator and the clock it reads the time
    from, and the daily data every schedule's window has."""

    kube: Kube
    namespace: str
    operator: OperatorProcess
    clock: FileClock
    daily_data: str


@pytest.fixture
def schedules(kube: Kube, namespace: str, operator: OperatorProcess, clock: FileClock, daily_data: str) -> Schedules:
    return Schedules(kube, namespace, operator, clock, daily_data)


def schedule_body(name: str, data_uri: str, **spec: Any) -> dict[str, Any]:
    template_spec: dict[str, Any] = {
        "variables": ["s0000", "s0001"],
        "window": {"lookback": "60d", "batchSizeDays": 30},
        "data": {"uri": data_uri},
        "retrodiction": {"horizons": [1, 7], "seasonLength": 7, "windowLength": 14},
        "dask": {"mode": "local", "workers": 1},
    }
    template_spec.update(spec.pop("template_spec", {}))
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RetrodictionSchedule",
        "metadata": {"name": name},
        "spec": {"schedule": "0 2 * * *", "timeZone": "Europe/Berlin", "template": {"spec": template_spec}, **spec},
    }


def create(kube: Kube, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return as_dict(custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, SCHEDULES, body))


def get_schedule(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return as_dict(custom(kube).get_namespaced_custom_object(GROUP, VERSION, namespace, SCHEDULES, name))


def patch_schedule(kube: Kube, namespace: str, name: str, patch: dict[str, Any]) -> None:
    custom(kube).patch_namespaced_custom_object(GROUP, VERSION, namespace, SCHEDULES, name, patch)


def runs_of(kube: Kube, namespace: str, schedule: str) -> dict[str, dict[str, Any]]:
    listed = listed_items(kube, namespace, RUNS, label_selector=schedule_selector(schedule))
    return {run["metadata"]["name"]: run for run in listed}


def run_is_listed(kube: Kube, namespace: str, schedule: str, name: str) -> bool:
    return name in runs_of(kube, namespace, schedule)


def status_of(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return dict(get_schedule(kube, namespace, name).get("status") or {})


def seen_by_operator(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """The status once the operator has handled the current generation at the current clock."""
    return eventually(
        lambda: (
            (status := status_of(kube, namespace, name)).get("observedGeneration")
            == get_schedule(kube, namespace, name)["metadata"]["generation"]
            and status
        ),
        f"the operator to pick up {name}",
        timeout=60,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def start_at(schedules: Schedules, body: dict[str, Any], moment: str, *, resume: bool = True) -> dict[str, Any]:
    """Create the schedule suspended with the clock at `moment`, wait until the operator has seen it there, then
    resume it (unless told not to); returns the status from which the test starts."""
    kube, namespace, clock = schedules.kube, schedules.namespace, schedules.clock
    clock.set(utc(moment))
    suspended = {**body, "spec": {**body["spec"], "suspend": True}}
    create(kube, namespace, suspended)
    name = body["metadata"]["name"]
    status = seen_by_operator(kube, namespace, name)
    if resume:
        patch_schedule(kube, namespace, name, {"spec": {"suspend": False}})
        status = seen_by_operator(kube, namespace, name)
    return status


def test_a_trigger_annotation_starts_one_run_now_that_completes(schedules: Schedules) -> None:
    kube, namespace = schedules.kube, schedules.namespace
    clock, daily_data = schedules.clock, schedules.daily_data
    status = start_at(schedules, schedule_body("on-demand", daily_data), "2030-06-10T12:00:00")
    assert status["nextScheduleTime"] == "2030-06-11T00:00:00Z"  # 02:00 CEST
    assert not runs_of(kube, namespace, "on-demand")
    patch_schedule(kube, namespace, "on-demand", {"metadata": {"annotations": {TRIGGER_ANNOTATION: "first"}}})
    (name,) = eventually(lambda: runs_of(kube, namespace, "on-demand"), "the triggered run")
    run = wait_for_phase(kube, namespace, name, {"Succeeded", "Failed"}, timeout=120)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert run["spec"]["window"]["end"] == "2030-06-10T12:00:00Z"
    assert run["spec"]["window"]["start"] == "2030-04-11T12:00:00Z"
    eventually(lambda: status_of(kube, namespace, "on-demand").get("lastTrigger") == "first", "lastTrigger")
    eventually(lambda: "Triggered" in events_of(kube, namespace, "on-demand"), "the Triggered Event")
    clock.set(utc("2030-06-10T12:00:30"))
    eventually(
        lambda: status_of(kube, namespace, "on-demand").get("lastSuccessfulTime"), "lastSuccessfulTime", timeout=30
    )
    assert list(runs_of(kube, namespace, "on-demand")) == [name]
    printed = kubectl(kube, "get", "rts", "-n", namespace).stdout.split("\n")[0].split()
    assert printed == ["NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST", "NEXT", "AGE"]


def test_slots_missed_during_downtime_are_caught_up_across_a_daylight_saving_change_and_never_twice(
    schedules: Schedules,
) -> None:
    kube, namespace = schedules.kube, schedules.namespace
    clock, daily_data = schedules.clock, schedules.daily_data
    operator = schedules.operator
    # At 03:00 in Berlin on March 28-31: March 31, 2030 is the night the clocks go forward.
    body = schedule_body("backfill", daily_data, schedule="0 3 28-31 3 *", catchUp={"policy": "All", "limit": 3})
    before = start_at(schedules, body, "2030-03-01T00:00:00")
    operator.kill()  # March 28-31 pass without an operator
    clock.set(utc("2030-03-31T12:00:00"))
    operator.start()
    expected = {
        "backfill-203003290200": "2030-03-29T02:00:00Z",  # 03:00 CET
        "backfill-203003300200": "2030-03-30T02:00:00Z",
        "backfill-203003310100": "2030-03-31T01:00:00Z",  # 03:00 CEST
    }
    eventually(lambda: set(runs_of(kube, namespace, "backfill")) == set(expected), "three caught-up runs", timeout=60)
    for name, slot in expected.items():
        run = runs_of(kube, namespace, "backfill")[name]
        assert run["spec"]["window"]["end"] == slot, "each caught-up run covers its own slot's window"
    missed = before["missedSlots"] + 1  # March 28, beyond the catch-up limit
    status = eventually(
        lambda: (s := status_of(kube, namespace, "backfill")).get("missedSlots") == missed and s, "one missed slot"
    )
    assert status["lastMissedTime"] == "2030-03-28T02:00:00Z"
    assert status["nextScheduleTime"] == "2031-03-28T02:00:00Z"
    eventually(lambda: "SlotsMissed" in events_of(kube, namespace, "backfill"), "the SlotsMissed Event")
    eventually(
        lambda: all(
            (run.get("status") or {}).get("phase") == "Succeeded"
            for run in runs_of(kube, namespace, "backfill").values()
        ),
        "the caught-up runs to succeed",
        timeout=180,
    )
    # Restarted again, the operator reads the same slots and creates nothing twice; a trigger afterwards shows
    # that the new process has been through this schedule.
    operator.kill()
    operator.start()
    patch_schedule(kube, namespace, "backfill", {"metadata": {"annotations": {TRIGGER_ANNOTATION: "after-restart"}}})
    eventually(lambda: len(runs_of(kube, namespace, "backfill")) == 4, "the triggered run", timeout=60)
    slot_runs = {name for name in runs_of(kube, namespace, "backfill") if "-manual-" not in name}
    assert slot_runs == set(expected)


def test_forbid_holds_the_next_slot_while_a_run_is_active_and_replace_takes_its_place(schedules: Schedules) -> None:
    kube, namespace = schedules.kube, schedules.namespace
    clock, daily_data = schedules.clock, schedules.daily_data
    # Runs that wait suspended stay active for as long as the test needs.
    body = schedule_body(
        "exclusive", daily_data, concurrencyPolicy="Forbid", template_spec={"execution": {"suspend": True}}
    )
    start_at(schedules, body, "2030-12-01T12:00:00")
    clock.set(utc("2030-12-02T01:00:05"))
    eventually(lambda: list(runs_of(kube, namespace, "exclusive")) == ["exclusive-203012020100"], "the first run")
    wait_for_phase(kube, namespace, "exclusive-203012020100", {"Suspended"}, timeout=60)
    clock.set(utc("2030-12-03T01:00:05"))
    eventually(
        lambda: status_of(kube, namespace, "exclusive").get("nextScheduleTime") == "2030-12-04T01:00:00Z",
        "the operator to see the second slot",
    )
    assert list(runs_of(kube, namespace, "exclusive")) == ["exclusive-203012020100"]
    assert status_of(kube, namespace, "exclusive")["activeCount"] == 1
    patch_schedule(kube, namespace, "exclusive", {"spec": {"concurrencyPolicy": "Replace"}})
    eventually(
        lambda: list(runs_of(kube, namespace, "exclusive")) == ["exclusive-203012030100"],
        "the waiting slot to replace the active run",
    )
    eventually(lambda: "RunReplaced" in events_of(kube, namespace, "exclusive"), "the RunReplaced Event")


def test_history_limits_delete_the_oldest_finished_runs(schedules: Schedules) -> None:
    kube, namespace = schedules.kube, schedules.namespace
    clock, daily_data = schedules.clock, schedules.daily_data
    body = schedule_body("short-memory", daily_data, successfulRunsHistoryLimit=1)
    start_at(schedules, body, "2030-12-05T12:00:00")
    names: list[str] = []
    for trigger in ("a", "b"):
        clock.set(utc("2030-12-05T12:00:00") + timedelta(minutes=len(names) + 1))
        patch_schedule(kube, namespace, "short-memory", {"metadata": {"annotations": {TRIGGER_ANNOTATION: trigger}}})
        new = eventually(lambda: set(runs_of(kube, namespace, "short-memory")) - set(names), f"run {trigger}")
        (name,) = new
        names.append(name)
        wait_for_phase(kube, namespace, name, {"Succeeded"}, timeout=120)
    eventually(lambda: list(runs_of(kube, namespace, "short-memory")) == [names[1]], "the older run to be trimmed")


def test_a_suspended_schedule_skips_its_slots_and_a_late_slot_past_its_deadline_is_missed(schedules: Schedules) -> None:
    kube, namespace = schedules.kube, schedules.namespace
    clock, daily_data = schedules.clock, schedules.daily_data
    body = schedule_body("paused", daily_data, startingDeadlineSeconds=300)
    status = start_at(schedules, body, "2030-12-06T12:00:00", resume=False)
    assert {c["type"]: c["status"] for c in status["conditions"]}["Suspended"] == "True"
    missed = status["missedSlots"]
    clock.set(utc("2030-12-07T12:00:00"))
    eventually(
        lambda: status_of(kube, namespace, "paused").get("missedSlots") == missed + 1, "the suspended slot missed"
    )
    patch_schedule(kube, namespace, "paused", {"spec": {"suspend": False}})
    seen_by_operator(kube, namespace, "paused")
    clock.set(utc("2030-12-08T01:30:00"))  # 30 minutes after the slot: past startingDeadlineSeconds
    eventually(lambda: status_of(kube, namespace, "paused").get("missedSlots") == missed + 2, "the late slot missed")
    assert not runs_of(kube, namespace, "paused")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": "61 * * * *"}, "schedule must be a cron expression of five fields"),
        ({"schedule": "every night"}, "schedule must be a cron expression of five fields"),
        ({"timeZone": "Mars/Olympus_Mons"}, "timeZone must be an IANA time zone name"),
        ({"concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy: Unsupported value"),
        ({"catchUp": {"policy": "All", "limit": 0}}, "spec.catchUp.limit"),
        ({"template": {"spec": {"variables": ["x"], "window": {"lookback": "ten years"}, "data": {"uri": "a"}}}},
         "spec.template.spec.window.lookback"),
        ({"template": {"spec": {"window": {"lookback": "10d"}, "data": {"uri": "a"}}}}, "spec.template.spec.variables"),
        ({"schedule": "0 0 30 2 *"}, NEVER_FIRES_MESSAGE),
        ({"schedule": "59 23 31 2 ?"}, NEVER_FIRES_MESSAGE),
        ({"schedule": "0 0 31 apr,Jun,09 */1"}, NEVER_FIRES_MESSAGE),
        ({"startingDeadlineSeconds": 9}, "spec.startingDeadlineSeconds: Invalid value: 9"),
    ],
)  # fmt: skip
def test_an_invalid_schedule_is_rejected_by_the_api_server_with_a_clear_message(
    kube: Kube, namespace: str, change: dict[str, Any], message: str
) -> None:
    body = schedule_body("bad", "builtin://macrodata")
    body["spec"].update(change)
    with pytest.raises(ApiException) as rejected:
        create(kube, namespace, body)
    assert rejected.value.status == 422
    assert message in api_message(rejected.value)


@pytest.mark.parametrize("expression", ["0 0 31 2 0", "0 0 29 2 *", "0 0 31 1-4 *", "0 0 31 2 */2", "@monthly"])
def test_a_schedule_that_fires_only_rarely_is_accepted(kube: Kube, namespace: str, expression: str) -> None:
    body = schedule_body(f"rare-{abs(hash(expression)) % 10**6}", "builtin://macrodata")
    body["spec"].update({"schedule": expression, "suspend": True})
    create(kube, namespace, body)


def test_a_schedule_applied_by_a_gitops_tool_shows_no_drift_after_it_started_runs(
    schedules: Schedules, tmp_path: Path
) -> None:
    kube, namespace = schedules.kube, schedules.namespace
    clock, daily_data = schedules.clock, schedules.daily_data
    body = schedule_body("gitops-nightly", daily_data)
    clock.set(utc("2030-12-09T01:00:05"))  # 02:00 CET: a slot is due, the schedule starts a run at once
    apply_as_gitops(kube, namespace, body, tmp_path)
    eventually(lambda: runs_of(kube, namespace, "gitops-nightly"), "the schedule's first run")
    seen_by_operator(kube, namespace, "gitops-nightly")
    code, diff = applied_without_drift(kube, namespace, body, tmp_path)
    assert (code, diff) == (0, ""), diff


def test_a_week_of_nightly_runs_leaves_a_history_the_last_summary_named_trust_gauges_and_a_trend_page(
    schedules: Schedules, browser: webdriver.Chrome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seven nights pass: every run adds its slot to the schedule's own history (kept when the history limit
    deletes the runs), the status names the last successful run's summary, the operator exports its trust, and
    `retrodiction report rs/NAME` draws trust over the week in a page a browser shows without an error."""
    kube, namespace, clock = schedules.kube, schedules.namespace, schedules.clock
    body = schedule_body("weekly-trust", schedules.daily_data, successfulRunsHistoryLimit=2)
    start_at(schedules, body, "2030-06-01T12:00:00")
    for night in range(7):
        clock.set(utc(f"2030-06-0{night + 2}T00:00:30"))  # just after 02:00 in Berlin (CEST)
        name = f"weekly-trust-2030060{night + 2}0000"
        eventually(partial(run_is_listed, kube, namespace, "weekly-trust", name), f"the run {name}", timeout=60)
        run = wait_for_phase(kube, namespace, name, {"Succeeded", "Failed"}, timeout=180)
        assert run["status"]["phase"] == "Succeeded", run["status"]
    configmap = client.CoreV1Api(kube.api).read_namespaced_config_map("weekly-trust-history", namespace)
    history = ScheduleHistory.model_validate_json((configmap.data or {})["history.json"])
    assert [slot.run for slot in history.slots] == [f"weekly-trust-2030060{night + 2}0000" for night in range(7)]
    assert all(
        slot.phase == "Succeeded" and slot.means and slot.variables == ["s0000", "s0001"] for slot in history.slots
    )
    assert len(runs_of(kube, namespace, "weekly-trust")) <= 3  # the runs go; the history stays

    def last_success() -> dict[str, Any] | None:
        last = status_of(kube, namespace, "weekly-trust").get("lastSuccessfulRun") or {}
        return dict(last) if last.get("name") == "weekly-trust-203006080000" else None

    last = eventually(last_success, "lastSuccessfulRun", timeout=60)
    assert last is not None
    assert last["summaryRef"]["configMap"] == "weekly-trust-203006080000-summary"
    newest = history.slots[-1]
    naive_h1 = next(mean for mean in newest.means if (mean.model, mean.horizon) == ("naive", 1))
    metrics = schedules.operator.metrics()
    line = f'retrodiction_schedule_trust{{horizon="1",model="naive",namespace="{namespace}",schedule="weekly-trust"}}'
    value = next(float(text.split()[-1]) for text in metrics.splitlines() if text.startswith(line))
    assert value == pytest.approx(naive_h1.trust, abs=1e-4)

    page = tmp_path / "weekly-trust.html"
    assert main(["report", "rs/weekly-trust", "-n", namespace, "--html", str(page), "--format", "json", "-q"]) == 0
    trend = json.loads(capsys.readouterr().out)
    assert [slot["run"] for slot in trend["slots"]] == [slot.run for slot in history.slots]
    assert {(row["model"], row["horizon"]) for row in trend["rows"]} == {(m.model, m.horizon) for m in newest.means}
    severe_entries(browser)  # reading the log empties it: only this page's entries count below
    browser.get(page.as_uri())
    sizes = figure_sizes(browser)
    assert {"trust-trend-h1-figure", "trust-trend-h7-figure"} <= set(sizes)
    assert all(width > 100 and height > 100 for width, height in sizes.values()), sizes
    assert severe_entries(browser) == []
