"""What a run leaves behind, end to end through the operator (spec.dask.mode=local): batches failing within and
beyond maxFailedBatches, a summary too large for one ConfigMap, and summaries and checkpoints in object storage
(a real S3 API on 127.0.0.1) with credentials from a Secret."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import fsspec
import pytest
from kubernetes import client

from retrodiction.cli import main
from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data import make_random_walks, write_dataset
from retrodiction.execution.task import run_batch
from retrodiction.identity import COMPONENT_DRIVER_REPORT, COMPONENT_LABEL, GROUP, RUN_UID_LABEL, VERSION
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import OperatorProcess
from retrodiction_harness.waiting import eventually
from tests.damaged_data import damage_column_chunk
from tests.e2e.runs import (
    PLURAL,
    cli_results,
    custom,
    events_of,
    load_training_from,
    s3_secret,
    serialized,
    stored_summary,
    training,
    wait_for_phase,
)
from tests.results import assert_same_results
from tests.s3 import S3Server


@pytest.fixture(scope="module")
def damaged_walks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Daily walks s0000..s0002 over 2000-2008 whose s0000 values for 2003 are unreadable."""
    path = tmp_path_factory.mktemp("damaged") / "walks.parquet"
    write_dataset(make_random_walks(3, 3000, seed=5), str(path), row_group_size=365)
    damage_column_chunk(path, row_group=3, column="s0000")
    return path


def damaged_run(name: str, path: Path, max_failed: int) -> dict[str, Any]:
    return training(
        name,
        variables=["s0000", "s0001", "s0002"],
        variablesPerBatch=1,
        window={"start": "2001-01-01T00:00:00Z", "end": "2008-01-01T00:00:00Z", "batchSizeDays": 365},
        data={"uri": path.as_uri()},
        retrodiction={"horizons": [1, 7], "seasonLength": 7, "windowLength": 28},
        execution__maxFailedBatches=max_failed,
    )


def unreadable_batches(body: dict[str, Any]) -> int:
    """How many of the spec's batches fail when computed in-process: the damage decides, not the test."""
    spec = load_training_from(body).spec
    coordinator = ParallelTrainingCoordinator(TrainingConfig.from_spec(spec))
    coordinator.prepare_spec_batches(spec)
    return sum(1 for task in coordinator.tasks() if run_batch(task).error is not None)


def test_batches_failing_within_max_failed_batches_still_give_a_succeeded_run(
    kube: Kube, namespace: str, operator: OperatorProcess, damaged_walks: Path
) -> None:
    failing = unreadable_batches(damaged_run("x", damaged_walks, 0))
    assert failing >= 1
    body = damaged_run("tolerant", damaged_walks, failing)
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "tolerant", {"Succeeded", "Failed"}, timeout=180)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert status["batches"]["failed"] == failing
    assert status["batches"]["succeeded"] == status["batches"]["total"] - failing
    assert f"{failing} failed (maxFailedBatches={failing})" in status["message"]
    summary, _ = stored_summary(kube, namespace, run)
    assert summary["batches"]["failed"] == failing
    assert all("spec.data.uri" in failure["error"] for failure in summary["batches"]["failures"])
    # The failed batches' targets are missing from the results, exactly as in the reference computation.
    assert_same_results(summary["results"], cli_results(body))


def test_one_failed_batch_more_than_max_failed_batches_fails_the_run_with_the_first_error(
    kube: Kube, namespace: str, operator: OperatorProcess, damaged_walks: Path
) -> None:
    failing = unreadable_batches(damaged_run("x", damaged_walks, 0))
    body = damaged_run("strict", damaged_walks, failing - 1)
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "strict", {"Succeeded", "Failed"}, timeout=180)
    status = run["status"]
    assert status["phase"] == "Failed", status
    assert status["reason"] == "BatchesFailed"
    assert f"more than maxFailedBatches={failing - 1}" in status["message"]
    assert "spec.data.uri" in status["message"]
    # What finished is still stored for inspection.
    summary, _ = stored_summary(kube, namespace, run)
    assert summary["batches"]["failed"] == failing
    eventually(lambda: "BatchesFailed" in events_of(kube, namespace, "strict"), "the BatchesFailed Event")


def test_a_summary_too_large_for_one_configmap_is_split_and_reads_back_whole(
    kube: Kube, namespace: str, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # 1,200 series x 5 models x 3 horizons: about 5.5 MB of JSON, more than one ConfigMap holds even gzipped.
    path = tmp_path_factory.mktemp("wide") / "wide.parquet"
    frame = make_random_walks(1200, 400, seed=6)
    write_dataset(frame, str(path))
    body = training(
        "wide",
        variables=[column for column in frame.columns if column != "date"],
        variablesPerBatch=300,
        window={"start": "2000-06-01T00:00:00Z", "end": "2001-01-01T00:00:00Z", "batchSizeDays": 400},
        data={"uri": path.as_uri()},
        retrodiction={"horizons": [1, 7, 28], "seasonLength": 7, "windowLength": 28},
    )
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "wide", {"Succeeded", "Failed"}, timeout=300)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    summary, stored = stored_summary(kube, namespace, run)
    entry = next(cm for cm in stored if cm["metadata"]["name"] == run["status"]["summaryRef"]["configMap"])
    index = json.loads(entry["data"]["summary-index.json"])
    assert len(index["parts"]) >= 2
    assert {cm["metadata"]["name"] for cm in stored} == {entry["metadata"]["name"], *index["parts"]}
    for configmap in stored:
        assert [owner["uid"] for owner in configmap["metadata"]["ownerReferences"]] == [run["metadata"]["uid"]]
    assert len(summary["results"]) == 1200 * 5 * 3
    assert_same_results(summary["results"], cli_results(body))


def test_data_summary_and_checkpoints_live_in_object_storage_with_credentials_from_a_secret(
    kube: Kube,
    namespace: str,
    operator: OperatorProcess,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    bucket = s3_server.create_bucket("operator")
    frame = make_random_walks(4, 1500, seed=7)
    write_dataset(frame, f"s3://{bucket}/data/walks.parquet", storage_options=s3_server.storage_options)
    write_dataset(frame, str(tmp_path / "walks.parquet"))
    secret = s3_secret(kube, namespace, s3_server, name="s3-credentials")
    # The endpoint is not a secret; the access key and the secret key are, and only the Secret holds them.
    endpoint = {"client_kwargs": {"endpoint_url": s3_server.endpoint_url, "region_name": s3_server.region}}
    shape: dict[str, Any] = {
        "variables": ["s0000", "s0001", "s0002", "s0003"],
        "variablesPerBatch": 2,
        "window": {"start": "2001-01-01T00:00:00Z", "end": "2004-01-01T00:00:00Z", "batchSizeDays": 120},
        "retrodiction": {"horizons": [1, 7], "seasonLength": 7, "windowLength": 14},
    }
    body = training(
        "on-s3",
        **shape,
        data={
            "uri": f"s3://{bucket}/data/walks.parquet",
            "storageOptions": endpoint,
            "credentialsSecretRef": {"name": secret},
        },
        output={
            "uri": f"s3://{bucket}/runs",
            "storageOptions": endpoint,
            "credentialsSecretRef": {"name": secret},
            "configMap": {"enabled": False},
        },
    )
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    run = wait_for_phase(kube, namespace, "on-s3", {"Succeeded", "Failed"}, timeout=180)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    uid = run["metadata"]["uid"]
    prefix = f"{bucket}/runs/{namespace}/on-s3/{uid}/"
    # A null in a merge patch is no key: no ConfigMap is named.
    assert status["summaryRef"] == {"uri": f"s3://{prefix}summary.json", "reportUri": f"s3://{prefix}report.html"}
    fs = fsspec.filesystem("s3", **s3_server.storage_options)
    summary = json.loads(fs.cat_file(prefix + "summary.json"))
    assert summary["run"]["uid"] == uid
    assert b'id="trust-heatmap-figure"' in fs.cat_file(prefix + "report.html")
    # `retrodiction report rt/NAME` finds the summary under the URI the status names, read with the user's own
    # credentials (from the environment, as a CLI user gives them; never the run's storage options).
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as env, redirect_stdout(out), redirect_stderr(err):
        for name, value in (
            ("AWS_ACCESS_KEY_ID", s3_server.access_key),
            ("AWS_SECRET_ACCESS_KEY", s3_server.secret_key),
            ("AWS_ENDPOINT_URL", s3_server.endpoint_url),
            ("AWS_DEFAULT_REGION", s3_server.region),
        ):
            env.setenv(name, value)
        fsspec.filesystem("s3").clear_instance_cache()
        assert main(["report", "rt/on-s3", "-n", namespace, "--format", "json"]) == 0
    assert len(json.loads(out.getvalue())["rows"]) == len(summary["results"])
    assert f"summary: s3://{prefix}summary.json" in err.getvalue()
    on_disk = training("reference", **shape, data={"uri": (tmp_path / "walks.parquet").as_uri()})
    assert_same_results(summary["results"], cli_results(on_disk))
    checkpoints = fs.ls(prefix + "checkpoints/")
    assert len(checkpoints) == status["batches"]["total"]
    # With the ConfigMap output disabled and checkpoints in S3, the run owns no ConfigMap but its driver's report
    # (a few hundred bytes, gone with the run).
    owned = client.CoreV1Api(kube.api).list_namespaced_config_map(namespace, label_selector=f"{RUN_UID_LABEL}={uid}")
    labels = [serialized(kube, cm)["metadata"]["labels"] for cm in owned.items]
    assert [label[COMPONENT_LABEL] for label in labels] == [COMPONENT_DRIVER_REPORT]
    assert len(serialized(kube, owned.items[0])["data"]["report.json"]) < 1024
