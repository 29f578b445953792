from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest

from retrodiction.batches import Batching, TrainingBatch, plan_batches, slice_bounds, variable_groups


def _quarterly(n: int = 80) -> np.ndarray:
    return np.array(
        [np.datetime64(f"{1990 + i // 4}-{1 + 3 * (i % 4):02d}-01", "ns") for i in range(n)],
        dtype="datetime64[ns]",
    )


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


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


def test_a_window_cut_into_year_slices_plans_exact_ids_warmups_rows_and_origins() -> None:
    # Quarterly rows: row i is 1990 + i // 4, month 1 + 3 * (i % 4). The window [1995-01-01, 1997-01-01) holds rows
    # 20..27; 365-day slices from 1995-01-01 end at 1996-01-01 and (1996 is a leap year) 1996-12-31, leaving a
    # one-day last slice without any observation. The row before the window's first target (row 19) is origin 0.
    times = _quarterly()
    plan = plan_batches(
        times,
        ["x", "y", "z"],
        datetime(1995, 1, 1, tzinfo=UTC),
        datetime(1997, 1, 1, tzinfo=UTC),
        Batching(batch_size_days=365, variables_per_batch=2, warmup_rows=6),
    )
    assert (plan.targets, plan.empty_slices) == (8, 1)
    assert [
        (b.batch_id, b.variables, b.start_time, b.end_time, b.load_start_time, b.n_targets, b.n_rows, b.origin_index)
        for b in plan.batches
    ] == [
        # Targets: rows 20..23; warm-up from row 20 - 6 = 14 (1993-07-01): 10 rows read, origin 14 - 19.
        ("000000-0000", ["x", "y"], _utc(1995, 1, 1), _utc(1996, 1, 1), _utc(1993, 7, 1), 4, 10, -5),
        ("000000-0001", ["z"], _utc(1995, 1, 1), _utc(1996, 1, 1), _utc(1993, 7, 1), 4, 10, -5),
        # Targets: rows 24..27; warm-up from row 18 (1994-07-01): origin 18 - 19.
        ("000001-0000", ["x", "y"], _utc(1996, 1, 1), _utc(1996, 12, 31), _utc(1994, 7, 1), 4, 10, -1),
        ("000001-0001", ["z"], _utc(1996, 1, 1), _utc(1996, 12, 31), _utc(1994, 7, 1), 4, 10, -1),
    ]
    assert all(not b.processed and b.results is None and b.error is None for b in plan.batches)


def test_a_warmup_reaching_before_the_data_reads_from_its_first_row() -> None:
    # The window starts at row 2 (1990-07-01): six warm-up rows would start at row -4, so the batch reads rows 0..5
    # (its targets are rows 2..5, up to 1991-07-01) and its first row is origin 0 - (2 - 1).
    plan = plan_batches(
        _quarterly(),
        ["x"],
        datetime(1990, 7, 1, tzinfo=UTC),
        datetime(1991, 7, 1, tzinfo=UTC),
        Batching(batch_size_days=365, variables_per_batch=1, warmup_rows=6),
    )
    (batch,) = plan.batches
    assert (batch.load_start_time, batch.n_targets, batch.n_rows, batch.origin_index) == (None, 4, 6, -1)


def test_a_window_starting_before_the_data_puts_origin_zero_before_the_first_row() -> None:
    plan = plan_batches(
        _quarterly(),
        ["x"],
        datetime(1989, 1, 1, tzinfo=UTC),
        datetime(1991, 1, 1, tzinfo=UTC),
        Batching(batch_size_days=365, variables_per_batch=1, warmup_rows=6),
    )
    # 1989 holds no row; 1990 holds rows 0..3, read from the start of the data, the first at origin 0 - (0 - 1).
    assert plan.empty_slices == 1
    (batch,) = plan.batches
    assert (batch.batch_id, batch.load_start_time, batch.n_targets, batch.n_rows, batch.origin_index) == (
        "000001-0000",
        None,
        4,
        4,
        1,
    )


@pytest.mark.parametrize(
    ("warmup", "load_start", "n_rows"),
    [
        # Targets: rows 6..9 (1991-07-01 .. 1992-04-01). Warm-up 6 starts at row 0: the start of the data.
        (6, None, 10),
        # Warm-up 5 starts at row 1, 1990-04-01: row 0 is not read.
        (5, datetime(1990, 4, 1, tzinfo=UTC), 9),
    ],
)
def test_only_a_warmup_starting_at_the_first_row_reads_from_the_start_of_the_data(
    warmup: int, load_start: datetime | None, n_rows: int
) -> None:
    plan = plan_batches(
        _quarterly(),
        ["x"],
        datetime(1991, 7, 1, tzinfo=UTC),
        datetime(1992, 7, 1, tzinfo=UTC),
        Batching(batch_size_days=366, variables_per_batch=1, warmup_rows=warmup),
    )
    (batch,) = plan.batches
    assert (batch.load_start_time, batch.n_targets, batch.n_rows) == (load_start, 4, n_rows)


def test_a_load_start_time_is_utc_and_exact_to_the_microsecond_across_the_data_time_range() -> None:
    # Nanosecond times reach 2262: there, microseconds since 1970 exceed 2**53 and a float would lose the last one.
    times = np.array(["2259-12-31", "2260-01-01T00:00:00.000001", "2260-01-02", "2260-01-03"], dtype="datetime64[ns]")
    plan = plan_batches(
        times,
        ["x"],
        datetime(2260, 1, 2, tzinfo=UTC),
        datetime(2260, 1, 4, tzinfo=UTC),
        Batching(batch_size_days=2, variables_per_batch=1, warmup_rows=1),
    )
    (batch,) = plan.batches
    assert batch.load_start_time == datetime(2260, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert batch.load_start_time.tzinfo is UTC


@pytest.mark.parametrize("days", [0, -1])
def test_a_slice_length_below_one_day_is_refused(days: int) -> None:
    with pytest.raises(ValueError, match=r"^batch_size_days must be positive$"):
        slice_bounds(datetime(2000, 1, 1, tzinfo=UTC), datetime(2001, 1, 1, tzinfo=UTC), days)


@pytest.mark.parametrize("end", [datetime(2000, 1, 1, tzinfo=UTC), datetime(1999, 12, 31, tzinfo=UTC)])
def test_a_window_that_does_not_end_after_its_start_is_refused(end: datetime) -> None:
    with pytest.raises(ValueError, match=r"^end must be after start$"):
        slice_bounds(datetime(2000, 1, 1, tzinfo=UTC), end, 30)


@pytest.mark.parametrize("per_batch", [0, -2])
def test_fewer_than_one_variable_per_batch_is_refused(per_batch: int) -> None:
    with pytest.raises(ValueError, match=r"^variables_per_batch must be positive$"):
        variable_groups(["a", "b"], per_batch)


def test_a_batch_as_a_dict_has_every_field_of_the_seed_api_with_iso_times() -> None:
    batch = TrainingBatch(
        batch_id="000003-0001",
        start_time=datetime(2000, 1, 31, tzinfo=UTC),
        end_time=datetime(2000, 3, 1, 12, 30, tzinfo=UTC),
        variables=["cpi", "m1"],
        load_start_time=datetime(1999, 12, 1, 6, tzinfo=UTC),
        n_targets=30,
        n_rows=44,
        origin_index=17,
        processed=True,
        processing_time=1.25,
        results={"targets": 30},
        error="DataError: boom",
    )
    doc = batch.to_dict()
    assert doc == {
        "batch_id": "000003-0001",
        "start_time": "2000-01-31T00:00:00+00:00",
        "end_time": "2000-03-01T12:30:00+00:00",
        "variables": ["cpi", "m1"],
        "load_start_time": "1999-12-01T06:00:00+00:00",
        "n_targets": 30,
        "processed": True,
        "processing_time": 1.25,
        "error": "DataError: boom",
    }
    doc["variables"].append("unemp")
    assert batch.variables == ["cpi", "m1"], "the dict holds a copy of the variables"


def test_a_new_batch_as_a_dict_is_unprocessed_and_loads_from_the_start() -> None:
    batch = TrainingBatch("000000-0000", datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 31, tzinfo=UTC), ["x"])
    assert batch.to_dict() == {
        "batch_id": "000000-0000",
        "start_time": "2000-01-01T00:00:00+00:00",
        "end_time": "2000-01-31T00:00:00+00:00",
        "variables": ["x"],
        "load_start_time": None,
        "n_targets": 0,
        "processed": False,
        "processing_time": 0.0,
        "error": None,
    }
