"""Where finished batch results are kept as they arrive, so an interrupted run resumes without recomputing them."""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Mapping
from typing import Any, Protocol

import fsspec

from retrodiction.execution.task import BatchResult

log = logging.getLogger(__name__)


class CheckpointStore(Protocol):
    def load(self) -> dict[str, BatchResult]:
        """Every result saved so far, by batch id."""
        ...

    def save(self, result: BatchResult) -> None:
        """Persist one successful batch result (idempotent: saving it again changes nothing)."""
        ...

    def flush(self) -> None:
        """Write whatever `save` buffered; called when a run stops, however it stops."""
        ...


class MemoryCheckpoint:
    def __init__(self) -> None:
        self.results: dict[str, BatchResult] = {}

    def load(self) -> dict[str, BatchResult]:
        return dict(self.results)

    def save(self, result: BatchResult) -> None:
        self.results[result.batch_id] = result

    def flush(self) -> None:
        """Nothing is buffered."""


class FsspecCheckpoint:
    """One small JSON object per batch under a prefix (a local folder, s3://bucket/prefix, ...).

    One object per batch keeps every write small and independent: no read-modify-write of a growing file, and a
    crash between two writes loses at most the batch being written.
    """

    def __init__(self, uri: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(uri, **dict(storage_options or {}))
        self.uri = uri

    def _path(self, batch_id: str) -> str:
        return posixpath.join(self.root, f"batch-{batch_id}.json")

    def load(self) -> dict[str, BatchResult]:
        if not self.fs.exists(self.root):
            return {}
        paths = sorted(self.fs.glob(posixpath.join(self.root, "batch-*.json")))
        if not paths:
            return {}
        results: dict[str, BatchResult] = {}
        for path, blob in self.fs.cat(paths).items():
            try:
                result = BatchResult.from_dict(json.loads(blob))
            except (ValueError, KeyError, TypeError) as err:
                # A write cut short by a crash: that batch is simply computed again.
                log.warning("ignoring unreadable checkpoint %s: %s", path, err)
                continue
            results[result.batch_id] = result
        return results

    def save(self, result: BatchResult) -> None:
        if not result.ok:
            raise ValueError("only successful batches are checkpointed; failed ones are retried on resume")
        self.fs.makedirs(self.root, exist_ok=True)
        self.fs.pipe_file(self._path(result.batch_id), json.dumps(result.to_dict()).encode())

    def flush(self) -> None:
        """Every save is written at once."""
