"""Light batches of the same variables travel to a worker as one task, with results identical to one task each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from retrodiction.batches import TrainingBatch
from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.data import DataSource, make_random_walks, write_dataset
from retrodiction.engine import EngineConfig
from retrodiction.execution.grouping import BatchGroup, batch_key, batches_in_key, group_batches
from retrodiction.execution.task import BatchResult, run_batch, run_batch_group
from tests.damaged_data import damage_column_chunk

VARIABLES = ["realgdp", "realinv", "cpi", "m1", "tbilrate", "unemp", "infl"]
START, END = datetime(1960, 1, 1, tzinfo=UTC), datetime(2009, 10, 1, tzinfo=UTC)
CONFIG = TrainingConfig(
    source=DataSource("builtin://macrodata"),
    engine=EngineConfig(horizons=(1, 3, 6), season_length=4, window_length=6, ses_alpha=0.4),
)


def batch(index: int, variables: tuple[str, ...] = ("a", "b"), targets: int = 10) -> TrainingBatch:
    start = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(days=10 * index)
    return TrainingBatch(
        batch_id=f"{index:06d}-{variables[0]}",
        start_time=start,
        end_time=start + timedelta(days=10),
        variables=list(variables),
        n_targets=targets,
        n_rows=targets + 4,
    )


def ids(groups: list[BatchGroup]) -> list[list[str]]:
    return [[member.batch_id for member in group.batches] for group in groups]


def test_consecutive_batches_of_the_same_variables_share_a_task_within_the_forecast_budget() -> None:
    batches = [batch(i) for i in range(5)]
    # 10 targets x 2 variables x 3 forecasts a cell = 60 a batch: two fit in 120, the fifth is left alone.
    groups = group_batches(batches, 3, max_forecasts=120)
    assert ids(groups) == [["000000-a", "000001-a"], ["000002-a", "000003-a"], ["000004-a"]]


def test_groups_never_mix_variables_and_keep_the_plan_order_of_their_first_batch() -> None:
    # The planner's order: time slices outer, variable groups inner.
    batches = [batch(i, variables) for i in range(3) for variables in (("a", "b"), ("c", "d"))]
    groups = group_batches(batches, 1)
    assert ids(groups) == [["000000-a", "000001-a", "000002-a"], ["000000-c", "000001-c", "000002-c"]]
    assert all(len({tuple(member.variables) for member in group.batches}) == 1 for group in groups)


def test_the_rows_read_at_once_are_capped_as_well_as_the_forecasts() -> None:
    batches = [batch(i) for i in range(4)]
    # Rows read: the first member's 4 warm-up rows + 10 targets per member, x 2 variables.
    groups = group_batches(batches, 1, max_cells=2 * (4 + 20))
    assert [len(group.batches) for group in groups] == [2, 2]


def test_a_batch_over_the_budget_alone_still_runs_as_its_own_task() -> None:
    groups = group_batches([batch(0, targets=1000), batch(1, targets=1000)], 3, max_forecasts=100)
    assert ids(groups) == [["000000-a"], ["000001-a"]]


def test_no_forecast_cost_means_no_grouping() -> None:
    # Custom models: every batch is already seconds of model fits.
    assert [len(group.batches) for group in group_batches([batch(i) for i in range(4)], 0)] == [1, 1, 1, 1]


def test_a_single_batch_keeps_its_own_key_and_a_group_key_names_its_first_batch_and_size() -> None:
    single, pair = BatchGroup((batch(0),)), BatchGroup((batch(0), batch(1)))
    assert single.key("uid") == batch_key("uid", "000000-a") == "retrodiction-batch-uid-000000-a"
    assert pair.key("uid").startswith("retrodiction-batch-uid-000000-a-x2-")
    assert pair.key("uid") == BatchGroup((batch(0), batch(1))).key("uid")
    assert pair.key("uid") != BatchGroup((batch(0), batch(2))).key("uid")
    assert (batches_in_key(single.key("uid")), batches_in_key(pair.key("uid"))) == (1, 2)


def test_a_partly_checkpointed_group_is_sent_whole_under_its_own_key_until_every_member_is_done() -> None:
    members = (batch(0), batch(1), batch(2))
    key = BatchGroup(members).key("uid")
    members[1].processed = True
    assert BatchGroup(members).pending and BatchGroup(members).key("uid") == key
    members[0].error, members[2].processed = "failed for good", True
    assert not BatchGroup(members).pending


def test_grouping_the_whole_plan_again_after_a_restart_finds_the_same_groups() -> None:
    first = group_batches([batch(i) for i in range(7)], 3, max_forecasts=180)
    again = group_batches([batch(i) for i in range(7)], 3, max_forecasts=180)
    assert [group.key("uid") for group in first] == [group.key("uid") for group in again]


@pytest.fixture(scope="module")
def coordinator() -> ParallelTrainingCoordinator:
    planned = ParallelTrainingCoordinator(CONFIG)
    planned.prepare_training_batches(VARIABLES, START, END, batch_size_days=365, variables_per_batch=3)
    return planned


def assert_identical(grouped: BatchResult, alone: BatchResult) -> None:
    assert grouped.batch_id == alone.batch_id
    assert (grouped.rows_loaded, grouped.targets) == (alone.rows_loaded, alone.targets)
    assert grouped.counts is not None and alone.counts is not None
    assert grouped.sums is not None and alone.sums is not None
    np.testing.assert_array_equal(grouped.counts, alone.counts)
    # Bit for bit: each batch is scored on exactly the rows it reads alone.
    np.testing.assert_array_equal(grouped.sums, alone.sums)


def test_a_group_task_gives_every_batch_exactly_the_result_it_gets_alone(
    coordinator: ParallelTrainingCoordinator,
) -> None:
    tasks = coordinator.tasks()
    groups = group_batches(coordinator.batches, 15)
    assert max(len(group.batches) for group in groups) > 10, "the plan should group"
    by_id = {task.batch_id: task for task in tasks}
    for group in groups:
        grouped = run_batch_group(tuple(by_id[member.batch_id] for member in group.batches))
        for result in grouped:
            assert_identical(result, run_batch(by_id[result.batch_id]))


def test_bad_data_fails_every_batch_of_a_group_with_the_field_named(coordinator: ParallelTrainingCoordinator) -> None:
    tasks = coordinator.tasks()[:3]
    broken = tuple(type(task)(**{**task.__dict__, "variables": ("no-such-column",)}) for task in tasks)
    results = run_batch_group(broken)
    assert [result.batch_id for result in results] == [task.batch_id for task in broken]
    assert {result.error for result in results} == {"spec.variables: not in the data: no-such-column"}


def test_damaged_rows_fail_only_the_batches_that_read_them_as_they_would_alone(tmp_path: Path) -> None:
    # Three years of one series, one row group a year; the middle year's values cannot be read.
    path = tmp_path / "walks.parquet"
    write_dataset(make_random_walks(1, 3 * 365, seed=3), str(path), row_group_size=365)
    damage_column_chunk(path, row_group=1, column="s0000")
    config = TrainingConfig(source=DataSource(path.as_uri()), engine=EngineConfig(horizons=(1,), window_length=7))
    run = ParallelTrainingCoordinator(config)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    run.prepare_training_batches(["s0000"], start + timedelta(days=30), start + timedelta(days=3 * 365), 30, 1)
    tasks = tuple(run.tasks())
    alone = [run_batch(task) for task in tasks]
    grouped = run_batch_group(tasks)
    assert 0 < sum(not result.ok for result in alone) < len(alone)
    assert [(result.batch_id, result.error) for result in grouped] == [(r.batch_id, r.error) for r in alone]
    for mine, theirs in zip(grouped, alone, strict=True):
        if theirs.ok:
            assert_identical(mine, theirs)


class Returned:
    """A finished Dask future as the coordinator sees it: its result, or the error it raises."""

    def __init__(self, value: object) -> None:
        self.value = value

    def result(self) -> object:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def collect(value: object, group: BatchGroup) -> tuple[BatchResult, ...]:
    return ParallelTrainingCoordinator._collect(Returned(value), group)  # type: ignore[arg-type]


def ok(member: TrainingBatch) -> BatchResult:
    return BatchResult(member.batch_id, tuple(member.variables), np.zeros((2, 1, 1, 4), np.int64), None)


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        ("not results", "the worker returned a str, not batch results"),
        (("x", "y"), "the worker returned a tuple, not batch results"),
        ([], "the worker returned a list, not batch results"),
        (RuntimeError("worker lost\nsecond line"), "RuntimeError: worker lost"),
    ],
)
def test_whatever_else_a_worker_sends_back_fails_every_batch_of_the_group(returned: object, error: str) -> None:
    group = BatchGroup((batch(0), batch(1)))
    results = collect(returned, group)
    assert [(result.batch_id, result.error) for result in results] == [("000000-a", error), ("000001-a", error)]


def test_results_of_other_batches_are_never_merged() -> None:
    group = BatchGroup((batch(0), batch(1)))
    for returned in [(ok(batch(1)), ok(batch(0))), (ok(batch(0)),), (ok(batch(0)), ok(batch(1)), ok(batch(2)))]:
        results = collect(returned, group)
        assert {result.error for result in results} == {"the worker returned the results of other batches"}
    assert collect((ok(batch(0)), ok(batch(1))), group)[1].ok


def test_a_run_of_builtins_sends_its_groups_in_plan_order(coordinator: ParallelTrainingCoordinator) -> None:
    sent = coordinator.groups_to_send()
    assert len(sent) < len(coordinator.batches)
    position = {batch.batch_id: index for index, batch in enumerate(coordinator.batches)}
    firsts = [position[group.batches[0].batch_id] for group in sent]
    assert firsts == sorted(firsts)
    assert sorted(member.batch_id for group in sent for member in group.batches) == sorted(position)


def test_a_run_of_custom_models_sends_one_batch_a_task_heaviest_first() -> None:
    from retrodiction.api.training import CustomModel

    config = TrainingConfig(
        source=DataSource("builtin://macrodata"),
        engine=EngineConfig(models=(), horizons=(1,)),
        custom_models=(CustomModel.model_validate({"name": "m", "statsforecast": {"model": "Naive"}}),),
    )
    run = ParallelTrainingCoordinator(config)
    run.prepare_training_batches(VARIABLES, START, END, batch_size_days=365 * 5, variables_per_batch=3)
    sent = run.groups_to_send()
    assert all(len(group.batches) == 1 for group in sent)
    weights = [group.batches[0].n_targets * len(group.batches[0].variables) * group.batches[0].n_rows for group in sent]
    assert weights == sorted(weights, reverse=True)
    # The last time slice has the longest history to fit on.
    assert sent[0].batches[0].start_time == max(batch.start_time for batch in run.batches)


def test_finished_batches_are_not_sent_again(coordinator: ParallelTrainingCoordinator) -> None:
    first_group = coordinator.groups_to_send()[0]
    for member in first_group.batches:
        member.processed = True
    try:
        sent = [group.key("uid") for group in coordinator.groups_to_send()]
    finally:
        for member in first_group.batches:
            member.processed = False
    assert first_group.key("uid") not in sent
    assert len(sent) == len(coordinator.groups_to_send()) - 1


def test_a_group_holds_at_most_max_batches_however_light_they_are() -> None:
    groups = group_batches([batch(i, targets=1) for i in range(40)], 1, max_batches=16)
    assert [len(group.batches) for group in groups] == [16, 16, 8]


def test_two_decades_of_yearly_batches_of_fifty_daily_series_make_one_task_by_default() -> None:
    # The spec's default layout (a year and 50 series a batch) with the builtins at three horizons: one task reads
    # its series once for all 19 years, about 5M forecasts, a fifth of a second on one core.
    names = tuple(f"s{i:04d}" for i in range(50))
    batches = [batch(year, names, targets=365) for year in range(19)]
    assert [len(group.batches) for group in group_batches(batches, 5 * 3)] == [19]
