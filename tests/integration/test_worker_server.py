"""Local worker processes forked from the worker server (the command line's): ready libraries, the cluster's
environment, and the summary a spawned worker gives."""

import json
import os
import sys
from pathlib import Path

import pytest

from retrodiction.cli import main
from retrodiction.execution.clusters import local_cluster_client
from tests.results import assert_same_results

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fork_server", [True, False], ids=["forked", "spawned"])
def test_forked_workers_have_the_batch_libraries_before_their_first_task(fork_server: bool) -> None:
    with local_cluster_client(2, fork_server=fork_server) as client:
        # A lambda travels by value: a function of this module would make the worker import the module, and
        # with it the libraries.
        ready = client.run(lambda: {"retrodiction.execution.task", "pyarrow.parquet", "numpy"} <= set(sys.modules))
    assert len(ready) == 2
    # A spawned worker imports them with its first batch; the spawned case shows the check can fail.
    assert set(ready.values()) == {fork_server}


def test_a_forked_worker_sees_the_environment_of_its_clusters_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    with local_cluster_client(1, fork_server=True):
        pass  # the worker server is running from here on, with the environment of this moment
    monkeypatch.setenv("RETRODICTION_SET_LATER", "credentials")
    with local_cluster_client(1, fork_server=True) as client:
        (seen,) = client.run(lambda: os.environ.get("RETRODICTION_SET_LATER")).values()
    assert seen == "credentials"


def test_forked_workers_get_one_blas_thread_and_no_malloc_trim_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    with local_cluster_client(1, fork_server=True) as client:
        (seen,) = client.run(_start_environment).values()
    # The BLAS library read its thread count in the worker server, before any cluster existed.
    assert seen == {"OMP_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": None, "blas threads": [1]}


def _start_environment() -> dict[str, object]:
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    return {
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        "blas threads": sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}),
    }


def test_the_command_line_gives_the_same_summary_on_forked_workers(tmp_path: Path) -> None:
    manifest = REPO / "examples" / "training-macrodata.yaml"
    forked, spawned = tmp_path / "forked.json", tmp_path / "spawned.json"
    assert main(["train", str(manifest), "--output", str(forked), "--processes", "--workers", "2", "--quiet"]) == 0
    with local_cluster_client(2) as client:
        address = str(client.scheduler_info()["address"])
        assert main(["train", str(manifest), "--output", str(spawned), "--scheduler", address, "--quiet"]) == 0
    assert_same_results(_results(forked), _results(spawned))


def _results(path: Path) -> list[dict[str, object]]:
    results: list[dict[str, object]] = json.loads(path.read_text())["results"]
    return results
