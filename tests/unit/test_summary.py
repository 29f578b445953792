import json
from dataclasses import replace
from datetime import UTC, datetime
from itertools import permutations
from typing import Any

import numpy as np
import pytest

from retrodiction.api.summary import SummaryRun, SummaryWindow
from retrodiction.config import TrainingConfig
from retrodiction.engine import COUNT_FIELDS, SUM_FIELDS, EngineConfig
from retrodiction.execution.task import BatchResult
from retrodiction.summary import SummaryAccumulator

ENGINE = EngineConfig(models=("naive", "drift"), horizons=(1, 2))
RUN = SummaryRun(
    name="r",
    namespace=None,
    uid="u",
    window=SummaryWindow(
        start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2001, 1, 1, tzinfo=UTC), batch_size_days=30
    ),
    start_time=None,
    completion_time=None,
)
CONFIG = TrainingConfig(engine=ENGINE).summary_config()


def _result(batch_id: str, variables: tuple[str, ...], seed: int) -> BatchResult:
    rng = np.random.default_rng(seed)
    shape = (len(variables), len(ENGINE.models), len(ENGINE.horizons))
    n = rng.integers(0, 20, size=shape)
    successes = rng.integers(0, n + 1)
    counts = np.zeros((*shape, len(COUNT_FIELDS)), dtype=np.int64)
    for name, values in {
        "n": n,
        "successes": successes,
        "failures": n - successes,
        "direction_hits": successes,
        "n_scaled": n,
        "skipped": rng.integers(0, 3, size=shape),
    }.items():
        counts[..., COUNT_FIELDS.index(name)] = values
    sums = rng.random((*shape, len(SUM_FIELDS))) * n[..., None]
    return BatchResult(batch_id, variables, counts, sums)


def test_batches_merge_by_addition_into_their_variables_rows() -> None:
    acc = SummaryAccumulator(["a", "b", "c"], ENGINE)
    first, second = _result("1", ("a", "c"), 1), _result("2", ("b", "a"), 2)
    acc.add(first)
    acc.add(second)
    assert first.counts is not None and second.counts is not None
    expected_a = first.counts[0] + second.counts[1]
    assert (acc.scores.counts[0] == expected_a).all()
    assert (acc.scores.counts[1] == second.counts[0]).all()
    assert (acc.scores.counts[2] == first.counts[1]).all()


def test_merge_order_does_not_change_the_document() -> None:
    parts = [_result(str(i), (("a", "b"), ("c",), ("b", "c", "a"))[i % 3], i) for i in range(12)]
    docs = []
    for order in (parts, parts[::-1], parts[3:] + parts[:3]):
        acc = SummaryAccumulator(["a", "b", "c"], ENGINE)
        acc.add_all(order)
        docs.append(acc.summary(RUN, CONFIG, total_batches=12).to_dict())
    for doc in docs[1:]:
        for mine, theirs in zip(doc["results"], docs[0]["results"], strict=True):
            for key in ("n", "successes", "failures", "skipped"):
                assert mine[key] == theirs[key]
            for key in ("mae", "rmse", "mase"):
                assert mine[key] == pytest.approx(theirs[key], rel=1e-12)


def test_the_same_batch_cannot_be_merged_twice() -> None:
    acc = SummaryAccumulator(["a"], ENGINE)
    acc.add(_result("1", ("a",), 1))
    with pytest.raises(ValueError, match="already merged"):
        acc.add(_result("1", ("a",), 1))


def test_the_document_has_the_stable_shape_and_is_valid_json() -> None:
    acc = SummaryAccumulator(["a", "b"], ENGINE)
    acc.add(_result("1", ("a",), 3))
    acc.add(BatchResult("2", ("b",), None, None, error="DataError: boom"))
    doc = acc.summary(RUN, CONFIG, total_batches=2).to_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["kind"] == "RetrodictionSummary"
    assert doc["batches"] == {
        "total": 2,
        "succeeded": 1,
        "failed": 1,
        "failures": [{"id": "2", "error": "DataError: boom"}],
    }
    assert len(doc["results"]) == 2 * 2 * 2
    row = doc["results"][0]
    assert set(row) == {
        "variable",
        "model",
        "horizon",
        "n",
        "skipped",
        "mae",
        "rmse",
        "mase",
        "directionalAccuracy",
        "successes",
        "failures",
        "trust",
    }
    assert row["successes"] + row["failures"] == row["n"]
    never_scored = [r for r in doc["results"] if r["variable"] == "b"]
    assert all(r["mae"] is None and r["n"] == 0 for r in never_scored)
    assert never_scored[0]["trust"]["mean"] == pytest.approx(0.5)


def test_checkpointed_results_round_trip_exactly() -> None:
    original = _result("7", ("a", "b"), 9)
    restored = BatchResult.from_dict(json.loads(json.dumps(original.to_dict())))
    assert restored.counts is not None and restored.sums is not None
    assert original.counts is not None and original.sums is not None
    assert (restored.counts == original.counts).all()
    assert (restored.sums == original.sums).all()
    assert restored.variables == original.variables


def test_building_the_summary_pauses_the_cyclic_collector_and_restores_it_as_it_was() -> None:
    import gc

    from retrodiction.collector import gc_paused

    def fail_inside() -> None:
        with gc_paused():
            assert not gc.isenabled()
            raise RuntimeError("a failure inside")

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        fail_inside()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled(), "a caller that turned it off keeps it off"
    finally:
        gc.enable()


# Two builtins and two custom models (m: 80% and 95% intervals, k: 50%), one horizon: cells small enough to add by hand.
MIXED = EngineConfig(models=("naive", "drift"), horizons=(1,))
MIXED_LEVELS = (50, 80, 95)
MODEL_AXIS = {"naive": 0, "drift": 1, "m": 2, "k": 3}


def _cells(  # noqa: PLR0913 - one keyword per part of a hand-made batch result
    batch_id: str,
    variables: tuple[str, ...],
    *,
    counts: dict[tuple[str, str], dict[str, int]],
    sums: dict[tuple[str, str], dict[str, float]],
    intervals: dict[tuple[str, str, int], tuple[int, int, float]],
    model_seconds: tuple[float, ...],
    model_errors: tuple[int, ...],
    model_first_errors: tuple[str | None, ...],
) -> BatchResult:
    """A batch result holding the given (variable, model) cells at horizon 1, zeros elsewhere; intervals map
    (variable, model, level) to (n, covered, winkler sum)."""
    shape = (len(variables), len(MODEL_AXIS), 1)
    count_array = np.zeros((*shape, len(COUNT_FIELDS)), dtype=np.int64)
    sum_array = np.zeros((*shape, len(SUM_FIELDS)))
    interval_counts = np.zeros((*shape, len(MIXED_LEVELS), 2), dtype=np.int64)
    interval_sums = np.zeros((*shape, len(MIXED_LEVELS)))
    for (variable, model), fields in counts.items():
        for name, value in fields.items():
            count_array[variables.index(variable), MODEL_AXIS[model], 0, COUNT_FIELDS.index(name)] = value
    for (variable, model), totals in sums.items():
        for name, total in totals.items():
            sum_array[variables.index(variable), MODEL_AXIS[model], 0, SUM_FIELDS.index(name)] = total
    for (variable, model, level), (n, covered, winkler) in intervals.items():
        cell = (variables.index(variable), MODEL_AXIS[model], 0, MIXED_LEVELS.index(level))
        interval_counts[cell] = (n, covered)
        interval_sums[cell] = winkler
    return BatchResult(
        batch_id,
        variables,
        count_array,
        sum_array,
        levels=MIXED_LEVELS,
        interval_counts=interval_counts,
        interval_sums=interval_sums,
        model_seconds=model_seconds,
        model_errors=model_errors,
        model_first_errors=model_first_errors,
    )


FIRST = _cells(
    "0001",
    ("a",),
    counts={("a", "naive"): {"n": 3, "skipped": 1, "successes": 2, "failures": 1, "direction_hits": 2, "n_scaled": 3}},
    sums={("a", "naive"): {"sum_abs_error": 3.0, "sum_squared_error": 5.0, "sum_scaled_abs_error": 1.5}},
    intervals={("a", "m", 80): (4, 3, 10.0), ("a", "k", 50): (2, 1, 7.0)},
    model_seconds=(0.25, 0.5, 1.0, 0.0),
    model_errors=(0, 1, 2, 0),
    model_first_errors=(None, "ValueError: x", "boom", None),
)
SECOND = _cells(
    "0002",
    ("b", "a"),
    counts={("a", "naive"): {"n": 1, "successes": 1, "n_scaled": 1}},
    sums={("a", "naive"): {"sum_abs_error": 1.0, "sum_squared_error": 11.0, "sum_scaled_abs_error": 0.5}},
    intervals={("a", "m", 80): (1, 0, 2.5)},
    model_seconds=(0.5, 0.25, 0.2345678, 0.0),
    model_errors=(0, 3, 0, 0),
    model_first_errors=(None, "ZeroDivisionError: y", None, None),
)
# Failed without a message (an exception whose text is empty).
SILENT_FAILURE = BatchResult("0003", ("b",), None, None, error="")


ORDERS = list(permutations((FIRST, SECOND, SILENT_FAILURE)))


def _order_id(order: tuple[BatchResult, ...]) -> str:
    return "-".join(result.batch_id for result in order)


def _merged(order: tuple[BatchResult, ...]) -> dict[str, Any]:
    acc = SummaryAccumulator(["a", "b"], MIXED, custom_models={"m": [95, 80], "k": [50]})
    acc.add_all(order)
    return acc.summary(RUN, CONFIG, total_batches=4).to_dict()


@pytest.mark.parametrize("order", ORDERS, ids=_order_id)
def test_merged_metrics_are_the_ratios_of_the_summed_counts_in_any_merge_order(
    order: tuple[BatchResult, ...],
) -> None:
    results = {(row["variable"], row["model"]): row for row in _merged(order)["results"]}
    # a x naive: n 3 + 1, skipped 1, successes 2 + 1, direction hits 2 + 0, errors |.| 3 + 1, squared 5 + 11,
    # scaled 1.5 + 0.5 over 3 + 1 scaled targets. Trust: the mean of Beta(1 + 3, 1 + 1).
    a_naive = results["a", "naive"]
    assert {key: a_naive[key] for key in ("n", "skipped", "successes", "failures")} == {
        "n": 4,
        "skipped": 1,
        "successes": 3,
        "failures": 1,
    }
    assert (a_naive["mae"], a_naive["rmse"], a_naive["mase"], a_naive["directionalAccuracy"]) == (1.0, 2.0, 0.5, 0.5)
    assert a_naive["trust"]["mean"] == 4 / 6
    assert "intervals" not in a_naive, "a builtin has no prediction intervals"
    # m at 80%: 4 + 1 targets, 3 + 0 inside, Winkler 10 + 2.5; at 95% none scored. k at 50%: 2 targets, 1 inside.
    assert results["a", "m"]["intervals"] == [
        {"level": 80, "n": 5, "coverage": 0.6, "winkler": 2.5},
        {"level": 95, "n": 0, "coverage": None, "winkler": None},
    ]
    assert results["a", "k"]["intervals"] == [{"level": 50, "n": 2, "coverage": 0.5, "winkler": 3.5}]
    never_scored = results["b", "naive"]
    assert (never_scored["n"], never_scored["mae"], never_scored["directionalAccuracy"]) == (0, None, None)


@pytest.mark.parametrize("order", ORDERS, ids=_order_id)
def test_model_costs_add_up_and_keep_the_first_error_of_the_smallest_batch_id_in_any_merge_order(
    order: tuple[BatchResult, ...],
) -> None:
    doc = _merged(order)
    # m: 1.0 + 0.2345678 seconds, to the microsecond. drift's first error: batch 0001's, though 0002 had one too.
    assert doc["models"] == [
        {"model": "naive", "seconds": 0.75, "errors": 0, "firstError": None},
        {"model": "drift", "seconds": 0.75, "errors": 4, "firstError": "batch 0001: ValueError: x"},
        {"model": "m", "seconds": 1.234568, "errors": 2, "firstError": "batch 0001: boom"},
        {"model": "k", "seconds": 0.0, "errors": 0, "firstError": None},
    ]
    assert doc["batches"] == {
        "total": 4,
        "succeeded": 2,
        "failed": 1,
        "failures": [{"id": "0003", "error": "unknown error"}],
    }


def test_a_later_batch_error_is_the_first_error_of_a_model_no_earlier_batch_failed() -> None:
    quiet = replace(FIRST, model_errors=(0, 0, 0, 0), model_first_errors=(None,) * 4)
    later = replace(SECOND, model_errors=(0, 0, 1, 0), model_first_errors=(None, None, "ValueError: later", None))
    for order in ((quiet, later), (later, quiet)):
        acc = SummaryAccumulator(["a", "b"], MIXED, custom_models={"m": [95, 80], "k": [50]})
        acc.add_all(order)
        assert [cost.first_error for cost in acc.costs()] == [None, None, "batch 0002: ValueError: later", None]


def _settling_runs(seed: int) -> tuple[list[BatchResult], list[list[str]]]:
    """Twelve batches over five variables in a random order, and after each, a random few variables settled
    (some of them with batches still to come)."""
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c", "d", "e"]
    results = [
        _result(f"{i:02d}", tuple(rng.choice(names, size=int(rng.integers(1, 4)), replace=False)), seed * 100 + i)
        for i in range(12)
    ]
    settles = [list(rng.choice(names, size=int(rng.integers(0, 4)), replace=False)) for _ in results]
    return results, settles


@pytest.mark.parametrize("seed", range(8))
def test_results_settled_during_a_run_are_the_results_built_at_its_end(seed: int) -> None:
    results, settles = _settling_runs(seed)
    at_end = SummaryAccumulator(["a", "b", "c", "d", "e"], ENGINE)
    at_end.add_all(results)
    settling = SummaryAccumulator(["a", "b", "c", "d", "e"], ENGINE)
    for result, settled in zip(results, settles, strict=True):
        settling.add(result)
        settling.settle(settled)
    expected = at_end.summary(RUN, CONFIG, total_batches=12).to_dict()
    assert settling.summary(RUN, CONFIG, total_batches=12).to_dict() == expected
    settling.settle(["a", "b", "c", "d", "e"])
    assert settling.unsettled() == []
    assert settling.summary(RUN, CONFIG, total_batches=12).to_dict() == expected


def test_a_batch_merged_into_a_settled_variable_counts_in_its_results() -> None:
    acc = SummaryAccumulator(["a", "b"], ENGINE)
    acc.add(_result("1", ("a", "b"), 1))
    acc.settle(["a", "b"])
    assert acc.unsettled() == []
    acc.add(_result("2", ("b",), 2))
    assert acc.unsettled() == ["b"], "b's results are built again; a's stand"
    reference = SummaryAccumulator(["a", "b"], ENGINE)
    reference.add_all([_result("1", ("a", "b"), 1), _result("2", ("b",), 2)])
    assert [row.to_dict() for row in acc.results()] == [row.to_dict() for row in reference.results()]


def test_settled_results_keep_their_prediction_intervals() -> None:
    def accumulator() -> SummaryAccumulator:
        return SummaryAccumulator(["a", "b"], MIXED, custom_models={"m": [95, 80], "k": [50]})

    at_end, settling = accumulator(), accumulator()
    at_end.add_all([FIRST, SECOND, SILENT_FAILURE])
    for result in (SECOND, SILENT_FAILURE, FIRST):
        settling.add(result)
        settling.settle(["b"])
    settling.settle(["a", "b"])
    assert settling.summary(RUN, CONFIG, total_batches=4) == at_end.summary(RUN, CONFIG, total_batches=4)


def test_a_run_without_any_model_has_no_results_to_settle() -> None:
    acc = SummaryAccumulator(["a", "b"], EngineConfig(models=(), horizons=(1,)))
    acc.settle(["a"])
    assert acc.results() == []
    assert acc.unsettled() == ["b"]
