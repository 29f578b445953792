"""A whole run against a real S3-compatible server: data read from it, checkpoints and the summary written to it."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
import pytest

from retrodiction.cli import main
from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data import DataSource, make_random_walks, with_gaps, write_dataset
from retrodiction.execution.checkpoint import FsspecCheckpoint
from tests.s3 import S3Server

pytestmark = pytest.mark.integration

MANIFEST = """apiVersion: training.retrodiction.dev/v1alpha1
kind: RetrodictionTraining
metadata: {{name: walks}}
spec:
  variables: [s0000, s0001, s0002, s0003, s0004, s0005]
  window: {{start: "2001-01-01T00:00:00Z", end: "2004-01-01T00:00:00Z", batchSizeDays: 120}}
  variablesPerBatch: 4
  data: {{uri: "{uri}"}}
  retrodiction: {{horizons: [1, 7], seasonLength: 7, windowLength: 14}}
"""


@pytest.fixture
def aws_environment(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials the way a CLI user gives them: the standard AWS variables, inherited by the worker processes."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    fsspec.filesystem("s3").clear_instance_cache()


def run(manifest: Path, *extra: str) -> int:
    return main(["train", str(manifest), "--workers", "2", "--quiet", *extra])


def read_json(uri: str, s3_server: S3Server) -> dict[str, Any]:
    with fsspec.open(uri, "r", **s3_server.storage_options) as handle:
        return dict(json.load(handle))


def test_a_run_reads_its_data_from_s3_and_writes_summary_and_checkpoints_there(
    s3_server: S3Server, aws_environment: None, tmp_path: Path
) -> None:
    bucket = s3_server.create_bucket("run")
    frame = with_gaps(make_random_walks(6, 1600, seed=11), 0.02, seed=11)
    write_dataset(frame, f"s3://{bucket}/data/walks.parquet", storage_options=s3_server.storage_options)
    write_dataset(frame, str(tmp_path / "walks.parquet"))
    on_s3 = tmp_path / "s3.yaml"
    on_s3.write_text(MANIFEST.format(uri=f"s3://{bucket}/data/walks.parquet"))
    on_disk = tmp_path / "disk.yaml"
    on_disk.write_text(MANIFEST.format(uri=(tmp_path / "walks.parquet").as_uri()))

    summary_uri = f"s3://{bucket}/out/summary.json"
    assert run(on_s3, "--output", summary_uri, "--checkpoint", f"s3://{bucket}/checkpoints") == 0
    assert run(on_disk, "--output", str(tmp_path / "local.json")) == 0

    remote = read_json(summary_uri, s3_server)
    local = json.loads((tmp_path / "local.json").read_text())
    assert remote["batches"]["succeeded"] == remote["batches"]["total"] > 1
    for a, b in zip(remote["results"], local["results"], strict=True):
        for key in ("variable", "model", "horizon", "n", "skipped", "successes", "failures", "trust"):
            assert a[key] == b[key]
    fs = fsspec.filesystem("s3", **s3_server.storage_options)
    checkpoints = fs.glob(f"{bucket}/checkpoints/*/batch-*.json")
    assert len(checkpoints) == remote["batches"]["total"]


def test_a_rerun_with_the_same_checkpoint_computes_nothing_again(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket("resume")
    options = s3_server.storage_options
    write_dataset(make_random_walks(6, 1600, seed=5), f"s3://{bucket}/walks.csv", format="csv", storage_options=options)
    config = TrainingConfig(source=DataSource(f"s3://{bucket}/walks.csv", storage_options=options))
    runs = []
    for _ in range(2):
        coordinator = ParallelTrainingCoordinator(
            config, max_workers=1, checkpoint=FsspecCheckpoint(f"s3://{bucket}/ckpt", options)
        )
        coordinator.prepare_training_batches(
            ["s0000", "s0003"], datetime(2002, 1, 1), datetime(2004, 1, 1), batch_size_days=90
        )
        progress: list[dict[str, Any]] = []
        runs.append((coordinator.start_training(progress_callback=progress.append), progress))
    (first, _), (second, progress) = runs
    total = first["batches"]["total"]
    assert progress[0]["resumed"] == progress[-1]["completed"] == total
    assert second["batches"]["succeeded"] == total
    assert first["results"] == second["results"]


def test_unreachable_output_bucket_is_reported_on_the_output_option(
    s3_server: S3Server, aws_environment: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "rt.yaml"
    manifest.write_text(
        MANIFEST.format(uri="builtin://macrodata").replace("s0000, s0001, s0002, s0003, s0004, s0005", "realgdp")
    )
    code = run(manifest, "--output", "s3://no-such-bucket-here/summary.json")
    assert code == 2
    assert capsys.readouterr().err.startswith("error: --output: ")


def test_report_and_diff_read_summaries_from_s3_with_the_users_credentials(
    s3_server: S3Server, aws_environment: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.create_bucket("reports")
    write_dataset(
        make_random_walks(6, 1600, seed=12),
        f"s3://{bucket}/data/walks.parquet",
        storage_options=s3_server.storage_options,
    )
    manifest = tmp_path / "s3.yaml"
    manifest.write_text(MANIFEST.format(uri=f"s3://{bucket}/data/walks.parquet"))
    summary = f"s3://{bucket}/runs/walks-summary.json"
    assert run(manifest, "--output", summary) == 0
    capsys.readouterr()
    html = tmp_path / "report.html"
    assert main(["report", summary, "--format", "json", "--html", str(html)]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {row["variable"] for row in rows} == {f"s{i:04d}" for i in range(6)}
    assert "<svg" in html.read_text()
    assert main(["diff", summary, summary, "--max-drop", "0", "-q"]) == 0
    assert main(["report", f"s3://{bucket}/runs/missing.json"]) == 2
    assert capsys.readouterr().err.strip().endswith("no such file")
