"""Checkpoints of a run in ConfigMaps it owns (when spec.output.uri is not set).

Results are buffered and written at most every `interval` seconds: each write rewrites the open shard (up to
900 KiB), so one write per batch would cost etcd far more than the batches are worth. Results finished but not
yet written when the driver dies are not lost: their Dask tasks are still held by the scheduler (the
coordinator publishes them), and the driver's next pod picks them up there. Once the summary is stored, the
shards have served their purpose and are removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from retrodiction.api.children import component_selector, owned_by
from retrodiction.driver.checkpoint_configmaps import CheckpointShards, read_checkpoint_configmaps
from retrodiction.driver.kube import DriverApi
from retrodiction.execution.task import BatchResult
from retrodiction.identity import COMPONENT_CHECKPOINT


class ConfigMapCheckpoint:
    def __init__(
        self,
        api: DriverApi,
        run_meta: Mapping[str, Any],
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.run_meta = run_meta
        self.interval = interval
        self._clock = clock
        self._pending: list[BatchResult] = []
        self._last_flush = clock()
        self._shards = CheckpointShards(run_meta)
        # Shards this object wrote or found owned by the run: rewritten with one request, not create-then-replace.
        self._owned: set[str] = set()

    def load(self) -> dict[str, BatchResult]:
        configmaps = self.api.list_configmaps(
            self.run_meta["namespace"], component_selector(self.run_meta, COMPONENT_CHECKPOINT)
        )
        self._shards = CheckpointShards.from_configmaps(self.run_meta, configmaps)
        self._owned = {cm["metadata"]["name"] for cm in configmaps if owned_by(cm, self.run_meta["uid"])}
        return read_checkpoint_configmaps(configmaps, run_uid=self.run_meta["uid"])

    def save(self, result: BatchResult) -> None:
        self._pending.append(result)
        if self._clock() - self._last_flush >= self.interval:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for configmap in self._shards.add(pending):
            name = configmap["metadata"]["name"]
            if name in self._owned:
                self.api.replace_owned_configmap(configmap, self.run_meta["uid"])
            else:
                self.api.apply_configmap(configmap, self.run_meta["uid"])
                self._owned.add(name)
        self._last_flush = self._clock()

    def remove(self) -> None:
        """Delete every shard this run owns (after its summary is stored)."""
        configmaps = self.api.list_configmaps(
            self.run_meta["namespace"], component_selector(self.run_meta, COMPONENT_CHECKPOINT)
        )
        for configmap in configmaps:
            if owned_by(configmap, self.run_meta["uid"]):
                self.api.delete_configmap(self.run_meta["namespace"], configmap["metadata"]["name"])
        self._owned.clear()
