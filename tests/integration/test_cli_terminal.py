"""`retrodiction train` as a person at a terminal or a script sees it, run as the installed command: Dask's INFO
logs only with --verbose (the worker processes' too), a table that fits a pipe or a narrow terminal with every
number whole, JSON alone on stdout with --format json, and the same results on threads as in worker processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retrodiction.cli import main
from retrodiction.report.formatting import format_probability
from tests.results import assert_same_results

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "examples/training-macrodata.yaml"
VARIABLES = 12
ROWS = VARIABLES * 5 * 2  # models x horizons
# A Dask line at INFO: through this process's root handler (INFO:distributed.scheduler:...) or in Dask's own
# format, as a worker process writes it (... - distributed.worker - INFO - ...).
DASK_INFO = re.compile(r"INFO:distributed\.|distributed\.[\w.]+ - INFO - ")
COMMAND = Path(sys.executable).with_name("retrodiction")


def train(tmp_path: Path, *args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command with stdout and stderr as pipes, as a script or `| less` has them."""
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    done = subprocess.run(
        [str(COMMAND), "train", str(MANIFEST), "--output", str(tmp_path / "summary.json"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done


def summary_results(tmp_path: Path) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = json.loads((tmp_path / "summary.json").read_text())["results"]
    return results


@pytest.mark.parametrize("where", [[], ["--processes"]], ids=["threads", "worker-processes"])
def test_dask_info_logs_stay_out_of_the_terminal_without_verbose(tmp_path: Path, where: list[str]) -> None:
    done = train(tmp_path, *where)
    assert not DASK_INFO.search(done.stderr), done.stderr
    assert "macrodata: 60 batches on" in done.stderr  # the notes themselves still come


def test_verbose_shows_the_info_logs_of_the_scheduler_and_of_the_worker_processes(tmp_path: Path) -> None:
    done = train(tmp_path, "--processes", "--verbose")
    assert "INFO:distributed.scheduler:" in done.stderr
    assert re.search(r"distributed\.worker - INFO - ", done.stderr), done.stderr


@pytest.mark.parametrize("columns", [None, 60], ids=["pipe", "COLUMNS=60"])
def test_the_table_fits_the_width_with_every_row_and_whole_numbers(tmp_path: Path, columns: int | None) -> None:
    done = train(tmp_path, columns=columns)
    width = columns or 80  # rich's width when stdout is not a terminal
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in done.stdout
    shown = {
        (words[0], words[1], int(words[2])): words[3]
        for words in map(str.split, lines)
        if len(words) > 3 and words[2].isdigit()
    }
    results = summary_results(tmp_path)
    assert len(shown) == len(results) == ROWS
    for result in results:
        assert shown[result["variable"], result["model"], result["horizon"]] == format_probability(
            result["trust"]["mean"]
        )


def test_format_json_writes_one_document_to_stdout_and_the_progress_to_stderr(tmp_path: Path) -> None:
    done = train(tmp_path, "--format", "json")
    document = json.loads(done.stdout)
    assert document["run"] == "macrodata" and document["variablesLeftOut"] == 0
    rows = {(row["variable"], row["model"], row["horizon"]): row for row in document["rows"]}
    results = summary_results(tmp_path)
    assert len(rows) == len(results) == ROWS
    for result in results:
        row = dict(rows[result["variable"], result["model"], result["horizon"]])
        assert row.pop("rank") in range(1, 6)
        assert row == result
    assert "batches" in done.stderr


def test_quiet_json_leaves_stderr_empty(tmp_path: Path) -> None:
    done = train(tmp_path, "--format", "json", "--quiet")
    assert done.stderr == ""
    assert len(json.loads(done.stdout)["rows"]) == ROWS


def test_quiet_prints_nothing_and_still_writes_the_summary(tmp_path: Path) -> None:
    done = train(tmp_path, "--quiet")
    assert (done.stdout, done.stderr) == ("", "")
    assert len(summary_results(tmp_path)) == ROWS


def test_threads_and_worker_processes_give_the_same_results(tmp_path: Path) -> None:
    on_threads, in_processes = tmp_path / "threads.json", tmp_path / "processes.json"
    assert main(["train", str(MANIFEST), "-q", "--output", str(on_threads)]) == 0
    assert main(["train", str(MANIFEST), "-q", "--processes", "--output", str(in_processes)]) == 0
    assert_same_results(json.loads(on_threads.read_text())["results"], json.loads(in_processes.read_text())["results"])
