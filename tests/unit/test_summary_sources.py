"""Reading a summary for `retrodiction report` and `diff`: files and URIs, and runs in the cluster through a
stand-in for the API server (tests/e2e/test_report_command.py reads real ones)."""

import base64
import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from retrodiction.api.children import ScheduleRef
from retrodiction.api.history import HistorySlot, ScheduleHistory, slot_of, with_slot
from retrodiction.api.summary import RetrodictionSummary, parse_summary
from retrodiction.driver.history_configmap import history_configmap
from retrodiction.driver.summary_configmaps import SummaryLimits, summary_configmaps
from retrodiction.summary_sources import (
    RunSource,
    ScheduleSource,
    SourceError,
    load_schedule_history,
    load_summary,
    parse_source,
    read_run_summary,
    read_schedule_history,
    read_summary_file,
)
from tests.unit.test_report_samples import make_summary

UID = "0b6a3c1e-1111-2222-3333-444455556666"
META = {"name": "gdp", "namespace": "team-a", "uid": UID}
VARIABLES = [f"s{i:04d}" for i in range(300)]


class Cluster:
    """The API server as summary_sources sees it: objects by name, and the names asked for."""

    def __init__(self, run: Mapping[str, Any] | None, configmaps: list[dict[str, Any]]) -> None:
        self._run = run
        self.configmaps = {cm["metadata"]["name"]: cm for cm in configmaps}
        self.asked: list[str] = []

    def run(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._run if self._run and (namespace, name) == ("team-a", "gdp") else None

    def configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        self.asked.append(name)
        return self.configmaps.get(name) if namespace == "team-a" else None


@pytest.fixture(scope="module")
def summary() -> RetrodictionSummary:
    return parse_summary(make_summary(VARIABLES, horizons=(1, 4)))


def _run(phase: str = "Succeeded", **status: Any) -> dict[str, Any]:
    ref = {"configMap": "gdp-summary"}
    return {"metadata": META, "status": {"phase": phase, "summaryRef": ref, **status}}


def _read(cluster: Cluster, **options: Any) -> RetrodictionSummary:
    return read_run_summary(RunSource("gdp"), "team-a", cluster, **options).summary


@pytest.mark.parametrize(
    ("text", "exists", "expected"),
    [
        ("rt/gdp", False, RunSource("gdp")),
        ("retrodictiontraining/gdp", False, RunSource("gdp")),
        ("retrodictiontrainings.training.retrodiction.dev/gdp", False, RunSource("gdp")),
        ("team-a/gdp", False, RunSource("gdp", "team-a")),
        ("team-a/gdp", True, "team-a/gdp"),  # a file of that name is here: it wins
        ("results/gdp.json", False, "results/gdp.json"),
        ("s3://bucket/team-a/gdp/summary.json", False, "s3://bucket/team-a/gdp/summary.json"),
        ("gdp-summary.json", False, "gdp-summary.json"),
        ("Team_A/gdp", False, "Team_A/gdp"),  # not a namespace name: a path
    ],
)
def test_a_source_names_a_run_or_a_path(text: str, exists: bool, expected: object) -> None:
    assert parse_source(text, exists=exists) == expected


@pytest.mark.parametrize(
    "limits",
    [SummaryLimits(), SummaryLimits(inline_max=1024), SummaryLimits(inline_max=1024, budget=16 * 1024)],
    ids=["inline", "gzip", "parts"],
)
def test_a_run_gives_back_its_summary_whatever_form_its_configmaps_took(
    summary: RetrodictionSummary, limits: SummaryLimits
) -> None:
    configmaps = summary_configmaps(META, summary, name=None, limits=limits)
    assert _read(Cluster(_run(), configmaps)) == summary


def test_a_split_summary_names_its_parts_as_where_it_came_from(summary: RetrodictionSummary) -> None:
    configmaps = summary_configmaps(META, summary, name=None, limits=SummaryLimits(inline_max=1024, budget=16 * 1024))
    loaded = read_run_summary(RunSource("gdp"), "team-a", Cluster(_run(), configmaps))
    assert loaded.origin == f"ConfigMap gdp-summary ({len(configmaps) - 1} parts)"
    assert loaded.warning is None


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (None, "^rt/gdp in namespace team-a: no such RetrodictionTraining$"),
        (
            {"metadata": META, "status": {"phase": "Running", "batches": {"total": 40, "succeeded": 12}}},
            "the run is Running \\(12/40 batches\\); its summary is stored when it ends$",
        ),
        ({"metadata": META}, "the run is Pending; its summary is stored when it ends$"),
        (
            {"metadata": META, "status": {"phase": "Failed", "reason": "InvalidSpec"}},
            "the run Failed \\(InvalidSpec\\) and stored no summary$",
        ),
        ({"metadata": META, "status": {"phase": "Succeeded"}}, "its status names no summary"),
    ],
    ids=["missing", "running", "no-status", "failed-without-summary", "no-summary-ref"],
)
def test_a_run_without_a_summary_to_read_is_one_line_saying_why(run: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(SourceError, match=message) as caught:
        _read(Cluster(run, []))
    assert "\n" not in str(caught.value)


def test_a_failed_run_with_a_partial_summary_is_read_with_a_warning(summary: RetrodictionSummary) -> None:
    configmaps = summary_configmaps(META, summary, name=None)
    loaded = read_run_summary(RunSource("gdp"), "team-a", Cluster(_run("Failed", reason="BatchesFailed"), configmaps))
    assert loaded.summary == summary
    assert loaded.warning == (
        "rt/gdp in namespace team-a: the run Failed (BatchesFailed); this summary holds the batches that finished"
    )


def test_a_summary_configmap_another_object_controls_is_refused(summary: RetrodictionSummary) -> None:
    configmaps = summary_configmaps({**META, "uid": "another-run"}, summary, name=None)
    with pytest.raises(SourceError, match="ConfigMap gdp-summary is not this run's"):
        _read(Cluster(_run(), configmaps))


def test_a_missing_summary_configmap_is_named(summary: RetrodictionSummary) -> None:
    with pytest.raises(SourceError, match="summary ConfigMap gdp-summary is missing"):
        _read(Cluster(_run(), []))


def _split(summary: RetrodictionSummary) -> list[dict[str, Any]]:
    return summary_configmaps(META, summary, name=None, limits=SummaryLimits(inline_max=1024, budget=16 * 1024))


def test_a_missing_part_is_named(summary: RetrodictionSummary) -> None:
    configmaps = _split(summary)
    with pytest.raises(SourceError, match=r"summary part gdp-summary-part-0002 is missing$"):
        _read(Cluster(_run(), [configmaps[0], configmaps[1], *configmaps[3:]]))


def test_an_altered_part_is_corrupt_not_a_crash(summary: RetrodictionSummary) -> None:
    configmaps = _split(summary)
    part = configmaps[2]["binaryData"]
    blob = bytearray(base64.b64decode(part["summary.json.gz.part"]))
    blob[100] ^= 0xFF
    part["summary.json.gz.part"] = base64.b64encode(bytes(blob)).decode()
    with pytest.raises(SourceError, match=r"gdp-summary is corrupt|does not match its sha256"):
        _read(Cluster(_run(), configmaps))


def test_an_index_naming_too_many_parts_is_refused_before_any_part_is_fetched(summary: RetrodictionSummary) -> None:
    configmaps = _split(summary)
    index = json.loads(configmaps[0]["data"]["summary-index.json"])
    configmaps[0]["data"]["summary-index.json"] = json.dumps({**index, "parts": [f"p-{i}" for i in range(10_000)]})
    cluster = Cluster(_run(), configmaps)
    with pytest.raises(SourceError, match="invalid index"):
        _read(cluster)
    assert cluster.asked == ["gdp-summary"]


@pytest.mark.parametrize("name", ["../../secret", "Kube-System", "a" * 300])
def test_an_index_naming_something_that_is_no_configmap_name_is_refused(
    summary: RetrodictionSummary, name: str
) -> None:
    configmaps = _split(summary)
    index = json.loads(configmaps[0]["data"]["summary-index.json"])
    configmaps[0]["data"]["summary-index.json"] = json.dumps({**index, "parts": [name]})
    cluster = Cluster(_run(), configmaps)
    with pytest.raises(SourceError, match="invalid index"):
        _read(cluster)
    assert cluster.asked == ["gdp-summary"]


def test_a_summary_past_the_size_limit_is_refused_without_decompressing_it_all(summary: RetrodictionSummary) -> None:
    configmaps = summary_configmaps(META, summary, name=None, limits=SummaryLimits(inline_max=1024))
    with pytest.raises(SourceError, match="decompresses to more than 10000 bytes"):
        _read(Cluster(_run(), configmaps), max_bytes=10_000)


def test_a_configmap_holding_something_else_names_the_problem(summary: RetrodictionSummary) -> None:
    configmaps = summary_configmaps(META, summary, name=None)
    configmaps[0].pop("binaryData", None)
    configmaps[0]["data"] = {"summary.json": json.dumps({"kind": "Something", "apiVersion": "v9"})}
    with pytest.raises(SourceError, match="ConfigMap gdp-summary holds no valid summary"):
        _read(Cluster(_run(), configmaps))


def test_a_summary_uri_that_is_a_local_path_is_not_read_from_this_machine(
    summary: RetrodictionSummary, tmp_path: Path
) -> None:
    secret = tmp_path / "summary.json"
    secret.write_text(json.dumps(summary.to_dict()))
    run = {"metadata": META, "status": {"phase": "Succeeded", "summaryRef": {"uri": f"file://{secret}"}}}
    with pytest.raises(SourceError, match="is a path on the machine that wrote it"):
        _read(Cluster(run, []))


def test_the_uri_is_read_when_the_configmap_is_gone(summary: RetrodictionSummary, tmp_path: Path) -> None:
    import fsspec

    with fsspec.open("memory://bucket/team-a/gdp/summary.json", "w") as handle:
        handle.write(json.dumps(summary.to_dict()))
    ref = {"configMap": "gdp-summary", "uri": "memory://bucket/team-a/gdp/summary.json"}
    run = {"metadata": META, "status": {"phase": "Succeeded", "summaryRef": ref}}
    loaded = read_run_summary(RunSource("gdp"), "team-a", Cluster(run, []))
    assert (loaded.summary, loaded.origin) == (summary, ref["uri"])


@pytest.mark.parametrize("compress", [False, True], ids=["json", "gzip"])
def test_a_summary_file_is_read_plain_or_gzipped(summary: RetrodictionSummary, tmp_path: Path, compress: bool) -> None:
    text = json.dumps(summary.to_dict()).encode()
    path = tmp_path / "s.json"
    path.write_bytes(gzip.compress(text) if compress else text)
    assert read_summary_file(str(path)) == summary
    assert load_summary(str(path)).summary == summary


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"{not json", "not a RetrodictionSummary"),
        (b'{"apiVersion": "x"}', "not a RetrodictionSummary"),
        (b"x" * 2000, "is larger than 1000 bytes"),
    ],
    ids=["missing", "not-json", "not-a-summary", "too-large"],
)
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "s.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as caught:
        read_summary_file(str(path), max_bytes=1000)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


# --- a schedule's history --------------------------------------------------------------------------------------


SCHEDULE_META = {"name": "nightly", "namespace": "team-a", "uid": "sched-uid"}
SCHEDULE_OWNER = {
    "apiVersion": "training.retrodiction.dev/v1alpha1",
    "kind": "RetrodictionSchedule",
    "name": "nightly",
    "uid": "sched-uid",
    "controller": True,
}


class ScheduleCluster(Cluster):
    def __init__(self, configmaps: list[dict[str, Any]], runs: list[dict[str, Any]], schedule: bool = True) -> None:
        super().__init__(None, configmaps)
        self._schedule = {"metadata": SCHEDULE_META} if schedule else None
        self._runs = runs
        self.selectors: list[str] = []

    def schedule(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._schedule if (namespace, name) == ("team-a", "nightly") else None

    def runs(self, namespace: str, selector: str) -> list[Mapping[str, Any]]:
        self.selectors.append(selector)
        return list(self._runs)


def _history_configmap(history: ScheduleHistory, owner: dict[str, Any] = SCHEDULE_OWNER) -> dict[str, Any]:
    manifest = history_configmap("team-a", ScheduleRef("nightly", "sched-uid"), history)
    manifest["metadata"]["ownerReferences"] = [owner]
    return manifest


def _failed_run(day: int, uid: str, owner: dict[str, Any] = SCHEDULE_OWNER) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"nightly-{day}",
            "uid": uid,
            "annotations": {"training.retrodiction.dev/scheduled-time": f"2026-11-0{day}T02:00:00Z"},
            "ownerReferences": [owner],
        },
        "status": {"phase": "Failed", "reason": "DriverFailed"},
    }


def _recorded(summary: RetrodictionSummary, day: int) -> HistorySlot:
    return slot_of(summary, scheduled_time=f"2026-11-0{day}T02:00:00Z", run=f"nightly-{day}", run_uid=f"run-{day}")


def test_a_schedules_history_is_read_with_runs_that_failed_before_writing_a_slot(summary: RetrodictionSummary) -> None:
    history = ScheduleHistory(schedule="nightly", schedule_uid="sched-uid")
    for day in (1, 3):
        history = with_slot(history, _recorded(summary, day))
    runs = [
        _failed_run(2, "run-2"),
        _failed_run(3, "run-3"),
        _failed_run(4, "other", owner={**SCHEDULE_OWNER, "uid": "x"}),
    ]
    cluster = ScheduleCluster([_history_configmap(history)], runs)
    read = read_schedule_history(ScheduleSource("nightly"), "team-a", cluster)
    assert [(slot.run, slot.phase) for slot in read.slots] == [
        ("nightly-1", "Succeeded"),
        ("nightly-2", "Failed"),  # its driver never wrote one
        ("nightly-3", "Succeeded"),  # already recorded: not doubled
    ]
    assert read.slots[1].reason == "DriverFailed"
    assert cluster.selectors == ["training.retrodiction.dev/schedule=nightly"]


def test_a_history_configmap_the_schedule_does_not_control_is_ignored(summary: RetrodictionSummary) -> None:
    history = with_slot(ScheduleHistory(schedule="nightly", schedule_uid="sched-uid"), _recorded(summary, 1))
    cluster = ScheduleCluster([_history_configmap(history, owner={**SCHEDULE_OWNER, "uid": "impostor"})], [])
    assert read_schedule_history(ScheduleSource("nightly"), "team-a", cluster).slots == []


def test_an_invalid_history_is_one_line_naming_the_field() -> None:
    configmap = _history_configmap(ScheduleHistory(schedule="nightly"))
    configmap["data"]["history.json"] = '{"schedule": "nightly", "slots": [{"run": "x"}]}'
    with pytest.raises(
        SourceError, match=r"^rs/nightly in namespace team-a: its history is not valid: .*slots"
    ) as caught:
        read_schedule_history(ScheduleSource("nightly"), "team-a", ScheduleCluster([configmap], []))
    assert "\n" not in str(caught.value)


def test_a_missing_schedule_is_one_line() -> None:
    with pytest.raises(SourceError, match=r"^rs/nightly in namespace team-a: no such RetrodictionSchedule$"):
        read_schedule_history(ScheduleSource("nightly"), "team-a", ScheduleCluster([], [], schedule=False))


@pytest.mark.parametrize(
    "text", ["rs/nightly", "retrodictionschedule/nightly", "retrodictionschedules.training.retrodiction.dev/nightly"]
)
def test_rs_names_a_schedule(text: str) -> None:
    assert parse_source(text, exists=False) == ScheduleSource("nightly")


def test_rs_name_gives_the_schedules_history_and_other_sources_none(summary: RetrodictionSummary) -> None:
    history = with_slot(ScheduleHistory(schedule="nightly", schedule_uid="sched-uid"), _recorded(summary, 1))
    cluster = ScheduleCluster([_history_configmap(history)], [])
    loaded = load_schedule_history("rs/nightly", namespace="team-a", cluster=cluster)
    assert loaded is not None
    assert [slot.run for slot in loaded[0].slots] == ["nightly-1"]
    assert loaded[1] == "history: ConfigMap nightly-history in namespace team-a"
    assert load_schedule_history("rt/nightly", namespace="team-a", cluster=cluster) is None
