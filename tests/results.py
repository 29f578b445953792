"""The reference every tier compares against: a spec's batches computed in-process, and how results must agree."""

from __future__ import annotations

import random
from typing import Any

import pytest

from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.execution.task import run_batch


def in_process_results(
    coordinator: ParallelTrainingCoordinator, *, shuffle_seed: int | None = None
) -> list[dict[str, Any]]:
    """The planned batches run one after another without Dask, merged (optionally in a shuffled order)."""
    results = [run_batch(task) for task in coordinator.tasks()]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(results)
    accumulator = coordinator.make_accumulator()
    accumulator.add_all(results)
    return [row.to_dict() for row in accumulator.results()]


def assert_same_results(mine: list[dict[str, Any]], reference: list[dict[str, Any]]) -> None:
    """Integer fields and trust identical, float metrics to 1e-9 relative (docs/architecture.md, Engine semantics)."""
    assert len(mine) == len(reference)
    for a, b in zip(mine, reference, strict=True):
        assert (a["variable"], a["model"], a["horizon"]) == (b["variable"], b["model"], b["horizon"])
        for key in ("n", "skipped", "successes", "failures"):
            assert a[key] == b[key], (a["variable"], a["model"], a["horizon"], key)
        assert a["trust"] == b["trust"]
        for key in ("mae", "rmse", "mase", "directionalAccuracy"):
            # null where nothing was scored, or where the metric is undefined (MASE of a flat history)
            assert a[key] == (None if b[key] is None else pytest.approx(b[key], rel=1e-9, abs=0.0)), key
        assert len(a.get("intervals", [])) == len(b.get("intervals", []))
        for mine_interval, their_interval in zip(a.get("intervals", []), b.get("intervals", []), strict=True):
            assert (mine_interval["level"], mine_interval["n"]) == (their_interval["level"], their_interval["n"])
            for key in ("coverage", "winkler"):
                assert mine_interval[key] == pytest.approx(their_interval[key], rel=1e-9, abs=0.0)
