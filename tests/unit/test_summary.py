import json
from datetime import UTC, datetime

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

    from retrodiction.summary import gc_paused

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
