"""A run's lifecycle in the operator, pass by pass, against an in-memory stand-in for the API calls it makes:
children, the queue, the driver's report, suspend and resume, the end of the run, and the TTL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retrodiction.api.children import controlling_run_uid, driver_job_name, driver_report_name, owner_reference
from retrodiction.api.policy import AdminPolicy
from retrodiction.api.report import REPORT_KEY
from retrodiction.api.status import RunStatusPatch
from retrodiction.controller.lifecycle import RunContext, RunLifecycle, expire_if_due, pause
from retrodiction.controller.report_reader import MAX_REPORT_OBJECT_BYTES
from retrodiction.controller.settings import OperatorSettings
from retrodiction.identity import TLS_ANNOTATION
from tests.unit.fake_kube import InMemoryKube

UID = "0b6a3c1e-1111-2222-3333-444455556666"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CLOCK = [NOW]  # what the operator's and the drivers' clocks say; a test may move it


@pytest.fixture(autouse=True)
def _clock_at_noon() -> None:
    CLOCK[0] = NOW


class FakeApi(InMemoryKube):
    """The in-memory API, and what the run's driver and its Job do meanwhile."""

    # -- what the cluster does meanwhile ------------------------------------------------------------------------

    def driver_reports(self, **report: Any) -> None:
        document = {"runUid": UID, "updated": CLOCK[0].strftime("%Y-%m-%dT%H:%M:%SZ"), **report}
        configmap = {
            "metadata": {"name": driver_report_name("gdp"), "ownerReferences": [{"uid": UID, "controller": True}]},
            "data": {REPORT_KEY: json.dumps(document)},
        }
        self.put_configmap(driver_report_name("gdp"), configmap)

    def job_ends(self, kind: str, reason: str = "", message: str = "") -> None:
        job = self.objects["Job", driver_job_name("gdp")]
        job["status"] = {"conditions": [{"type": kind, "status": "True", "reason": reason, "message": message}]}


def body(**spec_changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "variables": ["cpi"],
        "window": {"start": "2000-01-01T00:00:00Z", "end": "2005-01-01T00:00:00Z", "batchSizeDays": 365},
        "data": {"uri": "builtin://macrodata"},
        "dask": {"mode": "local", "workers": 1},
    }
    for path, value in spec_changes.items():
        node = spec
        *parents, leaf = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return {
        "metadata": {
            "name": "gdp",
            "namespace": "team-a",
            "uid": UID,
            "generation": 1,
            "creationTimestamp": "2026-06-01T11:00:00Z",
        },
        "spec": spec,
        "status": {},
    }


def lifecycle(api: FakeApi, run: dict[str, Any], **settings: Any) -> RunLifecycle:
    options: dict[str, Any] = {"status_interval_seconds": 1e-9, **settings}
    return RunLifecycle(RunContext(api=api, settings=OperatorSettings(**options), body=run, now=lambda: CLOCK[0]))


def step(life: RunLifecycle) -> bool:
    done = asyncio.run(life.step())
    # What the API server would now hold, for the next pass (Kopf keeps the body current).
    life.ctx.body["status"] = life.status.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[index]
    return done


def kinds(api: FakeApi) -> list[str]:
    return sorted(kind for kind, _ in api.created)


# --- starting ------------------------------------------------------------------------------------------------------


def test_a_new_run_is_accepted_then_gets_its_driver_and_what_the_driver_may_do() -> None:
    api, run = FakeApi(), body()
    assert not step(lifecycle(api, run))
    assert kinds(api) == ["Job", "Role", "RoleBinding", "RoleBinding", "ServiceAccount"]
    phases = [patch.get("phase") for patch in api.status_patches if "phase" in patch]
    assert phases == ["Pending", "Provisioning"]
    for manifest in api.objects.values():
        assert manifest["metadata"]["ownerReferences"][0]["uid"] == UID
    job = api.objects["Job", driver_job_name("gdp")]
    env = {item["name"]: item.get("value") for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RETRODICTION_RUN_UID"] == UID
    assert AdminPolicy.model_validate_json(env["RETRODICTION_POLICY"]) == AdminPolicy()


def test_a_kubernetes_mode_run_also_gets_its_dask_cluster_with_tls_and_a_network_policy() -> None:
    api, run = FakeApi(), body(dask={"mode": "kubernetes", "workers": 2})
    step(lifecycle(api, run))
    assert kinds(api) == ["DaskCluster", "Job", "NetworkPolicy", "Role", "RoleBinding", "RoleBinding", "ServiceAccount"]
    cluster = api.objects["DaskCluster", "gdp"]
    assert cluster["metadata"]["annotations"][TLS_ANNOTATION] == "true"


def test_a_pass_replayed_after_a_crash_creates_nothing_twice() -> None:
    api, run = FakeApi(), body(dask={"mode": "kubernetes", "workers": 2})
    step(lifecycle(api, run))
    created = list(api.created)
    step(lifecycle(api, run))  # a new operator process: a new lifecycle over the stored status
    assert api.created == created


def test_a_child_name_taken_by_someone_else_fails_the_run() -> None:
    api, run = FakeApi(), body()
    api.objects["ServiceAccount", "gdp-driver"] = {"metadata": {"name": "gdp-driver", "ownerReferences": []}}
    assert step(lifecycle(api, run))
    assert api.status_patches[-1]["phase"] == "Failed"
    assert api.status_patches[-1]["reason"] == "ClusterFailed"


def test_a_spec_the_policy_refuses_fails_naming_the_field_and_creates_nothing() -> None:
    api, run = FakeApi(), body(data={"uri": "file:///etc/passwd"})
    assert step(lifecycle(api, run))
    final = api.status_patches[-1]
    assert (final["phase"], final["reason"]) == ("Failed", "PolicyViolation")
    assert final["message"].startswith("spec.data.uri: scheme 'file' is not allowed by the admin policy")
    assert api.created == []
    assert ("Warning", "PolicyViolation") in {(kind, reason) for kind, reason, _ in api.events}


def test_resources_a_pod_would_not_accept_fail_the_run_as_an_invalid_spec() -> None:
    api, run = FakeApi(), body(driver={"resources": {"limits": {"memory": "lots"}}})
    assert step(lifecycle(api, run))
    assert api.status_patches[-1]["reason"] == "InvalidSpec"
    assert "spec.driver.resources.limits.memory" in api.status_patches[-1]["message"]


# --- the queue -----------------------------------------------------------------------------------------------------


def other_run(name: str, phase: str | None, created: str = "2026-06-01T10:00:00Z") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created},
        "status": {"phase": phase} if phase else {},
    }


def test_runs_over_the_namespace_limit_wait_in_pending_oldest_first() -> None:
    api, run = FakeApi(), body()
    api.runs = {
        r["metadata"]["name"]: r
        for r in (other_run("a", "Running"), other_run("b", "Provisioning"), other_run("c", "Succeeded"))
    }
    life = lifecycle(api, run, policy=AdminPolicy(max_concurrent_runs_per_namespace=2))
    assert not step(life)
    assert not step(life)
    assert api.created == []
    assert api.status_patches[-1]["reason"] == "Queued"
    assert "maxConcurrentRunsPerNamespace=2" in api.status_patches[-1]["message"]
    assert api.reasons().count("Queued") == 1
    api.runs["a"]["status"]["phase"] = "Succeeded"
    # An older run is waiting too: it goes first.
    api.runs["older"] = other_run("older", "Pending", created="2026-06-01T10:30:00Z")
    step(life)
    assert api.created == []
    del api.runs["older"]
    step(life)
    assert "Job" in kinds(api)


# --- following the driver ------------------------------------------------------------------------------------------


def running_run(api: FakeApi, **spec: Any) -> tuple[RunLifecycle, dict[str, Any]]:
    run = body(**spec)
    life = lifecycle(api, run)
    step(life)
    api.driver_reports(
        state="Running",
        batches={"total": 10, "succeeded": 4, "failed": 0, "running": 1, "resumed": 3},
        completedPercentage=40.0,
        estimatedRemainingSeconds=12,
        schedulerAddress="tcp://127.0.0.1:40000",
    )
    step(life)
    return life, run


def test_the_drivers_report_moves_the_run_to_running_with_its_counters() -> None:
    api = FakeApi()
    _, run = running_run(api)
    status = run["status"]
    assert status["phase"] == "Running"
    assert status["batches"] == {"total": 10, "succeeded": 4, "failed": 0, "running": 1, "resumed": 3}
    assert status["progress"] == "4/10" and status["completedPercentage"] == 40.0
    assert status["estimatedRemainingSeconds"] == 12
    assert status["daskCluster"]["schedulerAddress"] == "tcp://127.0.0.1:40000"
    assert status["startTime"] == "2026-06-01T12:00:00Z"


def test_progress_is_written_only_when_it_changes() -> None:
    api = FakeApi()
    life, _ = running_run(api)
    writes = len(api.status_patches)
    step(life)
    assert len(api.status_patches) == writes
    api.driver_reports(state="Running", batches={"total": 10, "succeeded": 6}, completedPercentage=60.0)
    step(life)
    assert api.status_patches[-1]["progress"] == "6/10"


def test_a_report_that_is_too_large_or_not_the_runs_is_ignored_and_the_run_goes_on() -> None:
    api = FakeApi()
    life, run = running_run(api)
    api.put_configmap(driver_report_name("gdp"), b"x" * (MAX_REPORT_OBJECT_BYTES + 1))
    assert not step(life)
    api.put_configmap(
        driver_report_name("gdp"), b'{"metadata": {"ownerReferences": [{"uid": "someone-else", "controller": true}]}}'
    )
    assert not step(life)
    assert run["status"]["phase"] == "Running" and run["status"]["progress"] == "4/10"


def test_a_completed_driver_job_makes_the_run_succeed_with_its_summary_named_by_the_operator() -> None:
    api = FakeApi()
    life, run = running_run(api, dask={"mode": "kubernetes", "workers": 2})
    api.driver_reports(state="Succeeded", batches={"total": 10, "succeeded": 9, "failed": 1}, completedPercentage=100.0)
    api.job_ends("Complete")
    assert step(life)
    status = run["status"]
    assert status["phase"] == "Succeeded"
    assert status["summaryRef"] == {"configMap": "gdp-summary"}  # a null in a merge patch is no key
    assert status["message"] == "9/10 batches, 1 failed (maxFailedBatches=0)"
    assert status["batches"]["running"] == 0 and status["estimatedRemainingSeconds"] == 0
    assert api.deleted_clusters == ["gdp"]
    assert {"SummaryStored", "RunSucceeded"} <= set(api.reasons())


def test_the_summary_uri_is_derived_from_the_spec_and_the_runs_uid() -> None:
    api = FakeApi()
    life, run = running_run(api, output={"uri": "s3://bucket/runs/", "configMap": {"enabled": False}})
    api.job_ends("Complete")
    step(life)
    assert run["status"]["summaryRef"] == {"uri": f"s3://bucket/runs/team-a/gdp/{UID}/summary.json"}


def test_a_failed_driver_reports_its_reason_and_the_partial_summary_is_named() -> None:
    api = FakeApi()
    life, run = running_run(api)
    api.driver_reports(
        state="Failed",
        reason="BatchesFailed",
        message="2 batch(es) failed, more than maxFailedBatches=0; first: spec.variables: not in the data: x",
        batches={"total": 10, "succeeded": 8, "failed": 2},
    )
    api.job_ends("Failed", "PodFailurePolicy", "Container driver failed with exit code 1")
    assert step(life)
    status = run["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "BatchesFailed")
    assert status["message"].startswith("2 batch(es) failed")
    assert status["summaryRef"]["configMap"] == "gdp-summary"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Failed"] == "True"


def test_a_bad_input_exit_fails_the_run_with_the_drivers_one_line_reason_and_no_summary() -> None:
    api = FakeApi()
    life, run = running_run(api)
    api.driver_reports(state="Failed", reason="InvalidSpec", message="spec.variables: not in the data: gdp_typo")
    api.job_ends("Failed", "PodFailurePolicy")
    step(life)
    assert run["status"]["reason"] == "InvalidSpec"
    assert "summaryRef" not in run["status"]


def test_a_driver_that_crashed_past_its_back_off_limit_fails_the_run_saying_so() -> None:
    api = FakeApi()
    life, run = running_run(api)
    api.job_ends("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    step(life)
    assert run["status"]["reason"] == "DriverFailed"
    assert "BackoffLimitExceeded" in run["status"]["message"]


def test_the_jobs_own_deadline_fails_the_run_as_deadline_exceeded() -> None:
    api = FakeApi()
    life, run = lifecycle(api, body(execution={"activeDeadlineSeconds": 600})), body()
    run = life.ctx.body  # type: ignore[assignment]
    step(life)
    job = api.objects["Job", driver_job_name("gdp")]
    assert job["spec"]["activeDeadlineSeconds"] == 600 + 60
    api.job_ends("Failed", "DeadlineExceeded")
    step(life)
    assert run["status"]["reason"] == "DeadlineExceeded"


def test_a_run_whose_driver_never_starts_fails_after_the_startup_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi()
    life = lifecycle(api, body(), cluster_startup_timeout_seconds=1)
    clock = [1000.0]
    monkeypatch.setattr("retrodiction.controller.lifecycle.time.monotonic", lambda: clock[0])
    step(life)
    clock[0] += 100.0
    assert not step(life)
    clock[0] += 30.0
    assert step(life)
    assert life.status.reason == "ClusterFailed"
    assert "did not start its batches within 121 s" in str(life.status.message)


def test_a_dask_cluster_in_error_fails_the_run() -> None:
    api, run = FakeApi(), body(dask={"mode": "kubernetes", "workers": 2})
    life = lifecycle(api, run)
    step(life)
    api.objects["DaskCluster", "gdp"]["status"] = {"phase": "Error"}
    assert step(life)
    assert run["status"]["reason"] == "ClusterFailed"


def test_passes_after_the_first_only_observe_the_driver() -> None:
    api = FakeApi()
    life, _ = running_run(api, dask={"mode": "kubernetes", "workers": 2})
    ensured = len(api.ensured)
    for _ in range(3):
        step(life)
    assert len(api.ensured) == ensured, "no create or read of the children on every pass"


def test_a_driver_job_deleted_mid_run_is_made_again() -> None:
    api = FakeApi()
    life, run = running_run(api)
    del api.objects["Job", driver_job_name("gdp")]
    step(life)
    step(life)
    assert ("Job", driver_job_name("gdp")) in api.objects
    assert run["status"]["phase"] == "Running"


def test_a_restarted_operator_adopts_the_children_again_on_its_first_pass() -> None:
    api = FakeApi()
    _, run = running_run(api)
    ensured = len(api.ensured)
    step(lifecycle(api, run))
    assert len(api.ensured) > ensured and api.created.count(("Job", driver_job_name("gdp"))) == 1


def test_a_dask_cluster_made_by_an_earlier_version_is_made_again_with_tls() -> None:
    api, run = FakeApi(), body(dask={"mode": "kubernetes", "workers": 2})
    api.objects["DaskCluster", "gdp"] = {"metadata": {"name": "gdp", "ownerReferences": [{"uid": UID}]}}
    run["status"] = {"phase": "Running", "startTime": "2026-06-01T11:30:00Z"}
    life = lifecycle(api, run)
    step(life)
    assert api.deleted_clusters == ["gdp"] and ("DaskCluster", "gdp") not in api.created
    step(life)
    assert ("DaskCluster", "gdp") in api.created
    assert api.objects["DaskCluster", "gdp"]["metadata"]["annotations"][TLS_ANNOTATION] == "true"


# --- suspend and resume --------------------------------------------------------------------------------------------


def test_suspending_holds_the_driver_job_and_releases_the_cluster_then_resuming_starts_them_again() -> None:
    api = FakeApi()
    life, run = running_run(api, dask={"mode": "kubernetes", "workers": 2})
    run["spec"]["execution"] = {"suspend": True}
    assert not step(life)
    assert run["status"]["phase"] == "Suspended"
    assert api.suspended == [True] and api.deleted_clusters == ["gdp"]
    assert not step(life)
    assert api.suspended == [True]
    CLOCK[0] = NOW + timedelta(hours=1)
    run["spec"]["execution"] = {"suspend": False}
    step(life)
    assert api.suspended == [True, False]
    # The previous driver's report (Running) is older than the resume: the run waits for the new driver.
    assert run["status"]["phase"] == "Provisioning" and run["status"]["reason"] == "RunResumed"
    assert ("DaskCluster", "gdp") in api.objects


# --- the status itself -----------------------------------------------------------------------------------------------


def test_every_status_write_is_checked_against_the_status_model() -> None:
    api, run = FakeApi(), body()
    life = lifecycle(api, run)
    with pytest.raises(ValueError, match=r"extra_forbidden|Extra inputs"):
        asyncio.run(life._write(RunStatusPatch.model_validate({"phase": "Running", "secrets": "x"}), "phase"))
    assert api.status_patches == []


# --- TTL -----------------------------------------------------------------------------------------------------------


def finished(ttl: int | None, completed: str | None) -> dict[str, Any]:
    run = body(execution={"ttlSecondsAfterFinished": ttl} if ttl is not None else {})
    run["status"] = {"phase": "Succeeded", **({"completionTime": completed} if completed else {})}
    return run


def test_a_finished_run_is_deleted_once_its_ttl_has_passed_and_not_before() -> None:
    api = FakeApi()
    assert expire_if_due(api, finished(60, "2026-06-01T11:59:30Z"), NOW) == 30.0
    assert api.deleted == []
    assert expire_if_due(api, finished(60, "2026-06-01T11:59:00Z"), NOW) == 0.0
    assert api.deleted == ["gdp"]


def test_a_run_without_a_ttl_or_a_completion_time_is_kept() -> None:
    api = FakeApi()
    assert expire_if_due(api, finished(None, "2026-06-01T11:00:00Z"), NOW) is None
    assert expire_if_due(api, finished(0, None), NOW + timedelta(days=1)) is None
    assert api.deleted == []


# --- waiting between passes ----------------------------------------------------------------------------------------


class FakeStopped:
    """Kopf's `stopped` flag: `wait(timeout)` returns when the flag is set or the timeout passes."""

    def __init__(self) -> None:
        self.flag = asyncio.Event()

    async def wait(self, timeout: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flag.wait(), timeout)


def paused_for(wake: str, seconds: float = 30.0) -> float:
    async def scenario() -> float:
        stopped, waker = FakeStopped(), asyncio.Event()
        loop = asyncio.get_running_loop()
        if wake == "waker":
            loop.call_later(0.05, waker.set)
        elif wake == "stopped":
            loop.call_later(0.05, stopped.flag.set)
        began = loop.time()
        await pause(stopped, waker, seconds)
        return loop.time() - began

    return asyncio.run(scenario())


def test_a_pause_ends_as_soon_as_the_runs_driver_job_changes() -> None:
    assert paused_for("waker") < 1.0


def test_a_pause_ends_as_soon_as_the_daemon_is_stopped() -> None:
    assert paused_for("stopped") < 1.0


def test_a_pause_lasts_its_interval_when_nothing_happens() -> None:
    assert 0.2 <= paused_for("nothing", seconds=0.2) < 1.0


def test_a_job_names_its_run_by_the_controlling_owner_reference_only() -> None:
    job = {"metadata": {"ownerReferences": [owner_reference({"name": "gdp", "uid": UID})]}}
    assert controlling_run_uid(job) == UID
    other = {"apiVersion": "batch/v1", "kind": "CronJob", "name": "x", "uid": "u", "controller": True}
    assert controlling_run_uid({"metadata": {"ownerReferences": [other]}}) is None
    not_controller = {**owner_reference({"name": "gdp", "uid": UID}), "controller": False}
    assert controlling_run_uid({"metadata": {"ownerReferences": [not_controller]}}) is None
    assert controlling_run_uid({"metadata": {}}) is None


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (
            ["configMap", "uri"],
            {"reportConfigMap": "gdp-summary-html", "reportUri": f"s3://b/r/team-a/gdp/{UID}/report.html"},
        ),
        (["uri"], {"reportUri": f"s3://b/r/team-a/gdp/{UID}/report.html"}),
        ([], {}),
    ],
    ids=["both", "too-large-for-a-configmap", "an-image-without-the-report"],
)
def test_the_summary_ref_names_the_html_report_where_the_driver_stored_it(
    stored: list[str], expected: dict[str, str]
) -> None:
    api = FakeApi()
    life, run = running_run(api, output={"uri": "s3://b/r"})
    api.driver_reports(
        state="Succeeded", batches={"total": 10, "succeeded": 10}, completedPercentage=100.0, htmlReport=stored
    )
    api.job_ends("Complete")
    assert step(life)
    ref = run["status"]["summaryRef"]
    assert ref == {"configMap": "gdp-summary", "uri": f"s3://b/r/team-a/gdp/{UID}/summary.json", **expected}
