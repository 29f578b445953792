from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest

from retrodiction.batches import Batching, plan_batches, slice_bounds, variable_groups


def _quarterly(n: int = 80) -> np.ndarray:
    return np.array(
        [np.datetime64(f"{1990 + i // 4}-{1 + 3 * (i % 4):02d}-01", "ns") for i in range(n)],
        dtype="datetime64[ns]",
    )


def test_slices_are_half_open_contiguous_and_cover_the_window() -> None:
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 3, 5, tzinfo=UTC)
    slices = slice_bounds(start, end, 30)
    assert slices[0][0] == start
    assert slices[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(slices))
    assert [(b - a).days for a, b in slices] == [30, 30, 4]


def test_variable_groups_partition_the_variables_in_order() -> None:
    assert variable_groups(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]


@pytest.mark.parametrize("days", [1, 7, 45, 365, 10000])
@pytest.mark.parametrize("per_batch", [1, 2, 3])
def test_every_target_in_the_window_belongs_to_exactly_one_batch(days: int, per_batch: int) -> None:
    times = _quarterly()
    start, end = datetime(1992, 2, 1, tzinfo=UTC), datetime(2005, 1, 1, tzinfo=UTC)
    plan = plan_batches(
        times, ["x", "y", "z"], start, end, Batching(batch_size_days=days, variables_per_batch=per_batch, warmup_rows=5)
    )
    owned: dict[str, list[np.datetime64]] = {"x": [], "y": [], "z": []}
    for batch in plan.batches:
        lo = np.datetime64(batch.start_time.replace(tzinfo=None), "ns")
        hi = np.datetime64(batch.end_time.replace(tzinfo=None), "ns")
        rows = times[(times >= lo) & (times < hi)]
        assert len(rows) == batch.n_targets > 0
        for name in batch.variables:
            owned[name].extend(rows)
    expected = times[(times >= np.datetime64("1992-02-01")) & (times < np.datetime64("2005-01-01"))]
    for targets in owned.values():
        assert sorted(targets) == list(expected)
    assert plan.targets == len(expected)


def test_slices_without_observations_are_not_batches_but_are_counted() -> None:
    times = _quarterly()
    plan = plan_batches(
        times,
        ["x"],
        datetime(1990, 1, 1),
        datetime(1991, 1, 1),
        Batching(batch_size_days=1, variables_per_batch=1, warmup_rows=0),
    )
    assert len(plan.batches) == 4
    assert plan.empty_slices == 365 - 4


def test_a_batch_loads_exactly_the_warmup_rows_before_its_first_target() -> None:
    times = _quarterly()
    plan = plan_batches(
        times,
        ["x"],
        datetime(2000, 1, 1),
        datetime(2001, 1, 1),
        Batching(batch_size_days=365, variables_per_batch=1, warmup_rows=6),
    )
    (batch,) = plan.batches
    first = int(np.searchsorted(times, np.datetime64("2000-01-01")))
    assert batch.load_start_time is not None
    assert np.datetime64(batch.load_start_time.replace(tzinfo=None), "ns") == times[first - 6]


def test_a_batch_at_the_start_of_the_data_loads_from_the_start() -> None:
    times = _quarterly()
    plan = plan_batches(
        times,
        ["x"],
        datetime(1990, 1, 1),
        datetime(1991, 1, 1),
        Batching(batch_size_days=365, variables_per_batch=1, warmup_rows=6),
    )
    assert plan.batches[0].load_start_time is None


def test_batch_ids_are_unique_and_stable_across_plans() -> None:
    times = _quarterly()

    def ids() -> list[str]:
        plan = plan_batches(
            times,
            ["a", "b", "c"],
            datetime(1991, 1, 1),
            datetime(2009, 1, 1),
            Batching(batch_size_days=100, variables_per_batch=2, warmup_rows=3),
        )
        return [b.batch_id for b in plan.batches]

    first = ids()
    assert len(set(first)) == len(first)
    assert first == ids()
