"""Reading a run's driver report (controller/report_reader.py, api/report.py): tenant-written bytes, refused whole
when anything about them is off, and never echoed back in the refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from retrodiction.api.report import (
    MAX_REPORT_BYTES,
    REPORT_KEY,
    DriverExit,
    DriverReport,
    DriverState,
    ReportedBatches,
)
from retrodiction.controller.report_reader import ReportError, parse_report

RUN_UID = "0b6a3c1e-1111-2222-3333-444455556666"
OTHER_UID = "ffffffff-1111-2222-3333-444455556666"
MARKER = "SECRET-BYTES-123"


def _report(**fields: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "runUid": RUN_UID,
        "state": "Running",
        "updated": "2024-05-01T12:00:00Z",
        "batches": {"total": 10, "succeeded": 4, "failed": 1, "running": 2},
        "completedPercentage": 50.0,
        "estimatedRemainingSeconds": 120,
        "schedulerAddress": "tls://gdp-2024-scheduler.team-a.svc.cluster.local:8786",
        "dashboardURL": "http://gdp-2024-scheduler.team-a.svc.cluster.local:8787/status",
    }
    report.update(fields)
    return report


def _owner(**fields: Any) -> dict[str, Any]:
    owner: dict[str, Any] = {
        "apiVersion": "training.retrodiction.dev/v1alpha1",
        "kind": "RetrodictionTraining",
        "name": "gdp-2024",
        "uid": RUN_UID,
        "controller": True,
        "blockOwnerDeletion": False,
    }
    owner.update(fields)
    return owner


def _configmap(
    report: dict[str, Any] | str | None = None, owners: list[Any] | None = None, **data: Any
) -> dict[str, Any]:
    text = report if isinstance(report, str) else json.dumps(_report() if report is None else report)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "gdp-2024-driver",
            "namespace": "team-a",
            "ownerReferences": [_owner()] if owners is None else owners,
            "managedFields": [{"manager": "retrodiction", "operation": "Update"}],
        },
        "data": {REPORT_KEY: text, **data},
    }


def _blob(configmap: dict[str, Any]) -> bytes:
    return json.dumps(configmap).encode()


def _refusal(blob: bytes, run_uid: str = RUN_UID) -> str:
    with pytest.raises(ReportError) as caught:
        parse_report(blob, run_uid)
    return str(caught.value)


# --- a valid report -----------------------------------------------------------------------------------------------


def test_a_report_in_a_configmap_the_run_owns_is_parsed() -> None:
    report = parse_report(_blob(_configmap()), RUN_UID)
    assert report == DriverReport(
        run_uid=RUN_UID,
        state=DriverState.RUNNING,
        updated=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        batches=ReportedBatches(total=10, succeeded=4, failed=1, running=2),
        completed_percentage=50.0,
        estimated_remaining_seconds=120,
        scheduler_address="tls://gdp-2024-scheduler.team-a.svc.cluster.local:8786",
        dashboard_url="http://gdp-2024-scheduler.team-a.svc.cluster.local:8787/status",
    )


def test_a_minimal_report_takes_the_defaults() -> None:
    minimal = {"runUid": RUN_UID, "state": "Planning", "updated": "2024-05-01T12:00:00Z"}
    report = parse_report(_blob(_configmap(minimal)), RUN_UID)
    assert report.batches == ReportedBatches(total=0, succeeded=0, failed=0, running=0)
    assert report.completed_percentage == 0.0
    assert report.estimated_remaining_seconds is None
    assert report.reason is None
    assert report.message is None


def test_a_failed_report_carries_its_reason_and_message() -> None:
    failed = _report(state="Failed", reason="BatchesFailed", message="3 batches failed, more than maxFailedBatches")
    report = parse_report(_blob(_configmap(failed)), RUN_UID)
    assert report.state is DriverState.FAILED
    assert report.state.finished
    assert report.reason == "BatchesFailed"
    assert report.message == "3 batches failed, more than maxFailedBatches"


def test_the_run_may_be_one_of_several_owners() -> None:
    owners = [_owner(uid=OTHER_UID, controller=False), _owner()]
    assert parse_report(_blob(_configmap(owners=owners)), RUN_UID).run_uid == RUN_UID


def test_other_keys_of_the_configmap_are_ignored() -> None:
    assert parse_report(_blob(_configmap(notes="anything")), RUN_UID).state is DriverState.RUNNING


def test_a_report_of_exactly_the_byte_cap_is_accepted() -> None:
    base = json.dumps(_report(message=""))
    padding = MAX_REPORT_BYTES - len(base.encode())
    text = base.replace('"message": ""', '"message": ""' + " " * padding)
    assert len(text.encode()) == MAX_REPORT_BYTES
    assert parse_report(_blob(_configmap(text)), RUN_UID).message == ""


@pytest.mark.parametrize(
    ("state", "finished"),
    [
        (DriverState.PLANNING, False),
        (DriverState.CONNECTING, False),
        (DriverState.RUNNING, False),
        (DriverState.STORING, False),
        (DriverState.SUCCEEDED, True),
        (DriverState.FAILED, True),
    ],
)
def test_only_succeeded_and_failed_are_finished_states(state: DriverState, finished: bool) -> None:
    assert state.finished is finished


def test_the_permanent_driver_exits_are_one_two_and_three() -> None:
    assert DriverExit.PERMANENT == (1, 2, 3)
    assert DriverExit.OK == 0
    assert DriverExit.OK not in DriverExit.PERMANENT
    assert DriverExit.CRASHED not in DriverExit.PERMANENT


# --- not a ConfigMap ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("blob", [b"", b"not json", b"{", b"\xff\xfe\xfa", b'{"metadata": }'])
def test_bytes_that_are_not_json_are_refused(blob: bytes) -> None:
    assert _refusal(blob).startswith("not JSON: ")


def test_deeply_nested_json_is_refused_not_a_recursion_error() -> None:
    assert _refusal(b"[" * 100_000) == "not JSON: RecursionError"


def test_deeply_nested_closed_json_is_refused_not_a_recursion_error() -> None:
    assert _refusal(b"[" * 100_000 + b"]" * 100_000) == "not JSON: RecursionError"


def test_a_deeply_nested_report_inside_the_configmap_is_refused() -> None:
    text = '{"runUid": ' + "[" * 8000 + "]" * 8000 + "}"
    assert len(text.encode()) <= MAX_REPORT_BYTES
    assert _refusal(_blob(_configmap(text))).startswith("invalid: ")


@pytest.mark.parametrize("document", [[], "configmap", 3, None, {"data": {}}, {"metadata": "x"}])
def test_json_that_is_not_a_configmap_is_refused(document: Any) -> None:
    assert _refusal(json.dumps(document).encode()) == "not a ConfigMap"


# --- ownership ----------------------------------------------------------------------------------------------------


def test_a_configmap_without_owners_is_refused() -> None:
    assert _refusal(_blob(_configmap(owners=[]))) == "not owned by the run"


def test_a_configmap_owned_by_another_run_is_refused() -> None:
    assert _refusal(_blob(_configmap(owners=[_owner(uid=OTHER_UID)]))) == "not owned by the run"


def test_an_owner_reference_to_the_run_that_is_not_its_controller_is_refused() -> None:
    assert _refusal(_blob(_configmap(owners=[_owner(controller=False)]))) == "not owned by the run"


def test_an_owner_reference_without_controller_is_refused() -> None:
    owner = _owner()
    del owner["controller"]
    assert _refusal(_blob(_configmap(owners=[owner]))) == "not owned by the run"


def test_owner_references_that_are_not_a_list_are_refused() -> None:
    configmap = _configmap()
    configmap["metadata"]["ownerReferences"] = {"uid": RUN_UID, "controller": True}
    assert _refusal(_blob(configmap)) == "not owned by the run"


def test_owner_references_that_are_not_objects_are_refused() -> None:
    assert _refusal(_blob(_configmap(owners=[RUN_UID, None, 3]))) == "not owned by the run"


def test_a_configmap_owned_by_the_run_is_refused_when_read_for_another_run() -> None:
    assert _refusal(_blob(_configmap()), run_uid=OTHER_UID) == "not owned by the run"


# --- the report key -----------------------------------------------------------------------------------------------


def test_a_configmap_without_the_report_key_is_refused() -> None:
    configmap = _configmap()
    del configmap["data"][REPORT_KEY]
    assert _refusal(_blob(configmap)) == "no report.json"


def test_a_configmap_without_data_is_refused() -> None:
    configmap = _configmap()
    del configmap["data"]
    assert _refusal(_blob(configmap)) == "no report.json"


@pytest.mark.parametrize("value", [None, 7, ["x"], {"runUid": RUN_UID}])
def test_a_report_that_is_not_a_string_is_refused(value: Any) -> None:
    configmap = _configmap()
    configmap["data"][REPORT_KEY] = value
    assert _refusal(_blob(configmap)) == "no report.json"


def test_a_report_over_the_byte_cap_is_refused_before_it_is_parsed() -> None:
    text = json.dumps(_report(message="x" * 1000)) + " " * MAX_REPORT_BYTES
    assert _refusal(_blob(_configmap(text))) == f"report.json is larger than {MAX_REPORT_BYTES} bytes"


def test_the_byte_cap_counts_utf8_bytes_not_characters() -> None:
    # Three-byte characters: under the cap in characters, over it in bytes.
    base = json.dumps(_report(message=""), ensure_ascii=False)
    text = base.replace('"message": ""', '"message": ""' + "\u3000" * (MAX_REPORT_BYTES // 2))
    assert len(text) < MAX_REPORT_BYTES < len(text.encode())
    assert _refusal(_blob(_configmap(text))) == f"report.json is larger than {MAX_REPORT_BYTES} bytes"


# --- the report itself --------------------------------------------------------------------------------------------


# A refusal names the kinds of error, never where: an unknown field's name is the tenant's.
def test_an_unknown_field_in_the_report_is_refused() -> None:
    assert _refusal(_blob(_configmap(_report(command="rm -rf /")))) == "invalid: 1 error(s) (extra_forbidden)"


def test_an_unknown_field_in_the_batch_counts_is_refused() -> None:
    batches = {"total": 1, "lost": 0}
    assert _refusal(_blob(_configmap(_report(batches=batches)))) == "invalid: 1 error(s) (extra_forbidden)"


@pytest.mark.parametrize(
    "reason",
    ["batchesFailed", "Batches Failed", "Batches-Failed", "Batches_Failed", "", "1Failed", "BatchesFailed\n"],
)
def test_a_reason_that_is_not_camel_case_is_refused(reason: str) -> None:
    assert (
        _refusal(_blob(_configmap(_report(state="Failed", reason=reason))))
        == "invalid: 1 error(s) (string_pattern_mismatch)"
    )


def test_a_reason_over_sixty_four_characters_is_refused() -> None:
    reason = "A" + "b" * 64
    assert _refusal(_blob(_configmap(_report(reason=reason)))) == "invalid: 1 error(s) (string_pattern_mismatch)"
    assert parse_report(_blob(_configmap(_report(reason=reason[:64]))), RUN_UID).reason == reason[:64]


def test_a_message_over_1024_characters_is_refused() -> None:
    assert parse_report(_blob(_configmap(_report(message="m" * 1024))), RUN_UID).message == "m" * 1024
    assert _refusal(_blob(_configmap(_report(message="m" * 1025)))) == "invalid: 1 error(s) (string_too_long)"


@pytest.mark.parametrize("counter", ["total", "succeeded", "failed", "running"])
def test_a_negative_batch_counter_is_refused(counter: str) -> None:
    batches = {"total": 10, "succeeded": 0, "failed": 0, "running": 0, counter: -1}
    assert _refusal(_blob(_configmap(_report(batches=batches)))) == "invalid: 1 error(s) (greater_than_equal)"


def test_a_negative_remaining_time_is_refused() -> None:
    refusal = _refusal(_blob(_configmap(_report(estimatedRemainingSeconds=-5))))
    assert refusal == "invalid: 1 error(s) (greater_than_equal)"


@pytest.mark.parametrize("percentage", [-0.1, 100.1])
def test_a_percentage_outside_zero_to_a_hundred_is_refused(percentage: float) -> None:
    refusal = _refusal(_blob(_configmap(_report(completedPercentage=percentage))))
    assert refusal in ("invalid: 1 error(s) (greater_than_equal)", "invalid: 1 error(s) (less_than_equal)")


def test_an_unknown_state_is_refused() -> None:
    assert _refusal(_blob(_configmap(_report(state="Exploded")))) == "invalid: 1 error(s) (enum)"


def test_a_report_missing_required_fields_counts_every_error() -> None:
    assert _refusal(_blob(_configmap({"runUid": RUN_UID}))) == "invalid: 2 error(s) (missing)"


def test_a_report_that_is_not_json_inside_the_configmap_is_refused() -> None:
    assert _refusal(_blob(_configmap("{not json"))).startswith("invalid: 1 error(s)")


def test_a_report_for_another_run_is_refused_even_in_a_configmap_the_run_owns() -> None:
    assert _refusal(_blob(_configmap(_report(runUid=OTHER_UID)))) == "written for another run"


def test_an_over_long_run_uid_is_refused_as_invalid() -> None:
    assert _refusal(_blob(_configmap(_report(runUid="u" * 65)))) == "invalid: 1 error(s) (string_too_long)"


# --- refusals never repeat what they refuse -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "configmap",
    [
        pytest.param(_configmap(f'{{"runUid": "{MARKER}", '), id="report-not-json"),
        pytest.param(_configmap(_report(state=MARKER)), id="unknown-state"),
        pytest.param(_configmap(_report(reason=f"not camel {MARKER}")), id="bad-reason"),
        pytest.param(_configmap(_report(message=MARKER * 100)), id="long-message"),
        pytest.param(_configmap(_report(batches={"total": MARKER})), id="counter-not-a-number"),
        pytest.param(_configmap(_report(updated=MARKER)), id="bad-timestamp"),
        pytest.param(_configmap(_report(runUid=MARKER)), id="other-run"),
        pytest.param(_configmap(_report(command=MARKER)), id="unknown-field-value"),
        pytest.param(_configmap(owners=[_owner(uid=MARKER)]), id="other-owner"),
        pytest.param(_configmap(_report(message=MARKER * 2000)), id="over-the-cap"),
        pytest.param({"metadata": MARKER}, id="not-a-configmap"),
    ],
)
def test_a_refusal_never_contains_the_bytes_it_refuses(configmap: dict[str, Any]) -> None:
    refusal = _refusal(_blob(configmap))
    assert MARKER not in refusal
    assert MARKER.lower() not in refusal.lower()


def test_a_refusal_of_bytes_that_are_not_json_does_not_repeat_them() -> None:
    refusal = _refusal(f"{{'{MARKER}': 1}}".encode())
    assert refusal == "not JSON: JSONDecodeError"


def test_a_refusal_never_contains_the_name_of_an_unknown_field() -> None:
    refusal = _refusal(_blob(_configmap(_report(**{MARKER: 1}))))
    assert MARKER not in refusal


def test_a_report_with_a_lone_surrogate_is_refused_as_a_report_error() -> None:
    blob = _blob(_configmap()).replace(b'"report.json": "', b'"report.json": "\\ud800', 1)
    with pytest.raises(ReportError):
        parse_report(blob, RUN_UID)
