import base64
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pytest

from retrodiction.api.children import (
    CONFIGMAP_BUDGET,
    owner_reference,
)
from retrodiction.driver.checkpoint_configmaps import (
    CheckpointShards,
    CheckpointTooLargeError,
    checkpoint_configmap,
    read_checkpoint_configmaps,
)
from retrodiction.driver.checkpoints import ConfigMapCheckpoint
from retrodiction.engine import COUNT_FIELDS, SUM_FIELDS
from retrodiction.execution.task import BatchResult

RUN = {"name": "gdp", "namespace": "team-a", "uid": "0b6a3c1e-1111-2222-3333-444455556666"}


def _result(i: int, variables: int = 50, models: int = 5, horizons: int = 1) -> BatchResult:
    rng = np.random.default_rng(i)
    names = tuple(f"series_{(i * variables + v) % 20000:05d}" for v in range(variables))
    return BatchResult(
        batch_id=f"t{i // 100:03d}-v{i % 100:03d}",
        variables=names,
        counts=rng.integers(0, 400, size=(variables, models, horizons, len(COUNT_FIELDS)), dtype=np.int64),
        sums=rng.random((variables, models, horizons, len(SUM_FIELDS))) * 100,
        rows_loaded=500,
        targets=120,
        seconds=0.25,
        worker="worker-1",
    )


def _same(a: BatchResult, b: BatchResult) -> bool:
    assert a.counts is not None and b.counts is not None and a.sums is not None and b.sums is not None
    return (
        a.batch_id == b.batch_id
        and a.variables == b.variables
        and np.array_equal(a.counts, b.counts)
        and np.array_equal(a.sums, b.sums)  # exact: a resumed run merges the very same floats
    )


class FakeApiServer:
    """ConfigMaps by name, refusing to change an immutable one as the API server does."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []

    def apply(self, configmaps: Iterable[Mapping[str, Any]]) -> None:
        for configmap in configmaps:
            name = configmap["metadata"]["name"]
            existing = self.objects.get(name)
            if existing is not None and existing.get("immutable"):
                raise AssertionError(f"{name} is immutable and was written again")
            self.objects[name] = json.loads(json.dumps(configmap))
            self.writes.append(name)


def test_a_shard_round_trips_its_results_exactly() -> None:
    results = [_result(i) for i in range(3)]
    configmap = checkpoint_configmap(RUN, results, 7)
    assert configmap["metadata"]["name"] == "gdp-ckpt-0007"
    assert configmap["metadata"]["ownerReferences"] == [owner_reference(RUN, block_owner_deletion=False)]
    assert configmap["metadata"]["labels"]["app.kubernetes.io/component"] == "checkpoint"
    assert "immutable" not in configmap
    restored = read_checkpoint_configmaps([configmap])
    assert sorted(restored) == sorted(r.batch_id for r in results)
    assert all(_same(r, restored[r.batch_id]) for r in results)


def test_a_shard_over_the_budget_is_refused() -> None:
    with pytest.raises(CheckpointTooLargeError):
        checkpoint_configmap(RUN, [_result(i) for i in range(10)], 1, budget=16 * 1024)


def test_failed_batches_are_not_checkpointed() -> None:
    failed = BatchResult("b-1", ("x",), None, None, error="no such column")
    with pytest.raises(ValueError, match="only successful"):
        checkpoint_configmap(RUN, [failed], 1)
    with pytest.raises(ValueError, match="only successful"):
        CheckpointShards(RUN).add([failed])


def test_5000_batches_fit_in_few_shards_each_under_the_budget() -> None:
    server = FakeApiServer()
    shards = CheckpointShards(RUN)
    # 20 variables x 5 models per batch keeps the test quick; the packing does not depend on the shape.
    results = [_result(i, variables=20) for i in range(5000)]
    for start in range(0, len(results), 25):
        server.apply(shards.add(results[start : start + 25]))
    assert len(server.objects) <= 50
    for configmap in server.objects.values():
        assert len(configmap["binaryData"]["results.jsonl.gz"]) <= CONFIGMAP_BUDGET
        assert len(base64.b64decode(configmap["binaryData"]["results.jsonl.gz"])) < 1024 * 1024
    restored = read_checkpoint_configmaps(server.objects.values(), run_uid=RUN["uid"])
    assert len(restored) == 5000
    assert all(_same(r, restored[r.batch_id]) for r in results[::97])


def test_an_append_rewrites_only_the_open_shard_and_seals_full_ones() -> None:
    server = FakeApiServer()
    shards = CheckpointShards(RUN, budget=64 * 1024)
    for i in range(60):
        writes = shards.add([_result(i, variables=10)])
        # One write per append, two when a shard fills: the sealed one and the new one.
        assert len(writes) in (1, 2)
        assert all(w.get("immutable") for w in writes[:-1])
        assert not writes[-1].get("immutable")
        server.apply(writes)
    names = sorted(server.objects)
    assert len(names) > 2
    assert all(server.objects[n].get("immutable") for n in names[:-1])
    assert not server.objects[names[-1]].get("immutable")
    # Every sealed shard was written as many times as it took results, plus once to seal it; never afterwards.
    for name in names[:-1]:
        held = len(read_checkpoint_configmaps([server.objects[name]]))
        assert server.writes.count(name) == held + 1
    assert len(read_checkpoint_configmaps(server.objects.values())) == 60


def test_adding_a_stored_result_again_writes_nothing() -> None:
    shards = CheckpointShards(RUN)
    assert len(shards.add([_result(1), _result(2)])) == 1
    assert shards.add([_result(1)]) == []
    assert shards.stored == {_result(1).batch_id, _result(2).batch_id}


def test_a_single_result_bigger_than_a_shard_is_refused() -> None:
    with pytest.raises(CheckpointTooLargeError, match=r"output\.uri"):
        CheckpointShards(RUN, budget=8 * 1024).add([_result(1, variables=200)])


def test_packing_resumes_after_a_restart_without_touching_sealed_shards() -> None:
    server = FakeApiServer()
    first = CheckpointShards(RUN, budget=64 * 1024)
    for i in range(25):
        server.apply(first.add([_result(i, variables=10)]))
    # The operator restarts: a new packer is built from what the API server holds.
    second = CheckpointShards.from_configmaps(RUN, server.objects.values(), budget=64 * 1024)
    assert second.stored == first.stored
    assert second.add([_result(3, variables=10)]) == []
    for i in range(25, 50):
        server.apply(second.add([_result(i, variables=10)]))  # FakeApiServer fails on a sealed rewrite
    restored = read_checkpoint_configmaps(server.objects.values(), run_uid=RUN["uid"])
    assert sorted(restored) == sorted(_result(i, variables=10).batch_id for i in range(50))


def test_after_a_crash_between_sealing_and_opening_a_new_shard_is_started() -> None:
    sealed = checkpoint_configmap(RUN, [_result(1)], 1, sealed=True)
    shards = CheckpointShards.from_configmaps(RUN, [sealed])
    assert shards.stored == {_result(1).batch_id}
    [write] = shards.add([_result(2)])
    assert write["metadata"]["name"] == "gdp-ckpt-0002"
    assert set(read_checkpoint_configmaps([write])) == {_result(2).batch_id}


def test_shards_of_another_run_with_the_same_name_are_ignored() -> None:
    old_run = {**RUN, "uid": "11111111-old"}
    stale = checkpoint_configmap(old_run, [_result(1)], 1)
    mine = checkpoint_configmap(RUN, [_result(2)], 2)
    assert set(read_checkpoint_configmaps([stale, mine], run_uid=RUN["uid"])) == {_result(2).batch_id}
    assert CheckpointShards.from_configmaps(RUN, [stale]).stored == frozenset()


def test_an_unreadable_shard_is_skipped_and_never_overwritten(caplog: pytest.LogCaptureFixture) -> None:
    good = checkpoint_configmap(RUN, [_result(1)], 1, sealed=True)
    broken = checkpoint_configmap(RUN, [_result(2)], 2)
    broken["binaryData"]["results.jsonl.gz"] = base64.b64encode(b"\x1f\x8b garbage").decode()
    with caplog.at_level(logging.WARNING):
        assert set(read_checkpoint_configmaps([good, broken])) == {_result(1).batch_id}
    assert "gdp-ckpt-0002" in caplog.text
    [write] = CheckpointShards.from_configmaps(RUN, [good, broken]).add([_result(3)])
    assert write["metadata"]["name"] == "gdp-ckpt-0003"


def test_other_configmaps_are_not_mistaken_for_shards() -> None:
    summary = {"metadata": {"name": "gdp-summary"}, "data": {"summary.json": "{}"}}
    assert read_checkpoint_configmaps([summary]) == {}


class CountingKubeApi:
    """The two KubeApi calls a ConfigMapCheckpoint makes, recorded; `listed` is what load() finds."""

    def __init__(self, listed: list[dict[str, Any]] | None = None) -> None:
        self.listed = listed or []
        self.calls: list[tuple[str, str]] = []

    def list_configmaps(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self.listed

    def apply_configmap(self, manifest: Mapping[str, Any], run_uid: str) -> None:
        self.calls.append(("apply", manifest["metadata"]["name"]))

    def replace_owned_configmap(self, manifest: Mapping[str, Any], run_uid: str) -> None:
        self.calls.append(("replace", manifest["metadata"]["name"]))


def test_a_checkpoint_rewrites_its_own_open_shard_with_a_single_replace() -> None:
    api = CountingKubeApi()
    checkpoint = ConfigMapCheckpoint(api, RUN, interval=0.0)  # type: ignore[arg-type]
    checkpoint.load()
    checkpoint.save(_result(1, variables=2))
    checkpoint.save(_result(2, variables=2))
    checkpoint.flush()  # nothing new: no request at all
    assert api.calls == [("apply", "gdp-ckpt-0001"), ("replace", "gdp-ckpt-0001")]


def test_a_resumed_checkpoint_replaces_the_shard_it_found_instead_of_creating_it() -> None:
    shard = checkpoint_configmap(RUN, [_result(1, variables=2)], 1)
    api = CountingKubeApi(listed=[shard])
    checkpoint = ConfigMapCheckpoint(api, RUN, interval=0.0)  # type: ignore[arg-type]
    assert list(checkpoint.load()) == [_result(1).batch_id]
    checkpoint.save(_result(2, variables=2))
    assert api.calls == [("replace", "gdp-ckpt-0001")]
