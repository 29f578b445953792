"""The console script starts the local workers' forkserver early only for a local `train` of a manifest file."""

from __future__ import annotations

import pytest

from retrodiction.entry import trains_locally


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "run.yaml"],
        ["train", "run.yaml", "--workers", "2", "--report", "r.html"],
        ["train", "--workers=2", "configs/rt/run.yaml"],
        ["train", "retrodictiontraining.yaml"],  # a file named like the kind is still a file
    ],
)
def test_a_local_train_of_a_manifest_starts_the_workers_early(argv: list[str]) -> None:
    assert trains_locally(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["report", "summary.json"],
        ["train", "--help"],
        ["train", "run.yaml", "-h"],
        ["train", "run.yaml", "--scheduler", "tcp://10.0.0.1:8786"],
        ["train", "run.yaml", "--scheduler=tcp://10.0.0.1:8786"],
        ["train", "rt/nightly"],
        ["train", "retrodictiontrainings.training.retrodiction.dev/nightly", "-n", "team-a"],
        ["operator"],
    ],
)
def test_other_commands_and_runs_elsewhere_do_not(argv: list[str]) -> None:
    assert not trains_locally(argv)
