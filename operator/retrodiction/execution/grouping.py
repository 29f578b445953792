"""Which batches travel to a worker together, as one Dask task.

Dask costs about 2-3 ms of the client's and the scheduler's CPU per task, and each batch loads its warm-up rows
again. A run of the spec's defaults over thousands of daily series makes hundreds of batches of a few
milliseconds of scoring each, so that cost, paid on the very cores the workers score on, can outweigh the
scoring. Batches of the same variables that follow each other in time are therefore sent as one task, which
reads their rows once and scores each batch on its own rows: every batch still has its own result (the
checkpoint, the progress and the summary see batches, as before), computed on the same rows as alone, so the
numbers are identical. A group stays small in work (`MAX_GROUP_FORECASTS`, a fifth of a second or so of scoring
on one core) so the workers stay balanced and a lost task costs little. Batches with custom models are never
grouped: each is already seconds of model fits, far above the per-task cost.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrodiction.batches import TrainingBatch

# Scored forecasts (targets x variables x models x horizons) per group: about 0.2 s at the engine's single-core
# rate (40M/s on the CI machine class), so Dask's per-task cost (measured at 5-10 ms of CPU a task, between the
# worker and this process's scheduler) is a few percent of it. With the spec's defaults (a year and 50 series a
# batch) this makes one task of twenty years of a batch's series: half the tasks, and half the reads, of 0.1 s.
MAX_GROUP_FORECASTS = 8_000_000
# Rows x variables one group may read at once (32 MiB of float64), whatever its forecasts.
MAX_GROUP_CELLS = 4_000_000
# Batches per group: enough to pay Dask's per-task cost 32 times less often (and a group to cover two decades of
# yearly batches), few enough that a run of many tiny batches still makes dozens of tasks to spread over its
# workers and reports progress as it goes.
MAX_GROUP_BATCHES = 32
_GROUP_KEY = re.compile(r"-x(\d+)-[0-9a-f]{16}$")


@dataclass(frozen=True)
class BatchGroup:
    """Batches of the same variables, in time order, sent as one task."""

    batches: tuple[TrainingBatch, ...]

    def key(self, run_uid: str) -> str:
        """The Dask key: the same run and members always map to the same task, so a coordinator taking a run
        over finds the tasks its predecessor published instead of computing them again."""
        if len(self.batches) == 1:
            return batch_key(run_uid, self.batches[0].batch_id)
        members = ",".join(batch.batch_id for batch in self.batches)
        digest = hashlib.sha256(members.encode()).hexdigest()[:16]
        # Same prefix as a single batch's key, so Dask's dashboard and task-prefix counters show one kind of task.
        return f"{batch_key(run_uid, self.batches[0].batch_id)}-x{len(self.batches)}-{digest}"

    @property
    def pending(self) -> bool:
        """Whether any member is still to run. A group is always sent whole, under the key of all its members,
        even when a checkpoint holds some of them: a coordinator taking a run over then finds its predecessor's
        task instead of computing the rest again under a new key, and merges only what it lacks."""
        return any(not done(batch) for batch in self.batches)


def done(batch: TrainingBatch) -> bool:
    """Merged already: processed, or failed for good."""
    return batch.processed or batch.error is not None


def batches_in_key(key: str) -> int:
    """How many batches the task under `key` scores (BatchGroup.key's `-xN-` part; 1 for a single batch)."""
    found = _GROUP_KEY.search(key)
    return int(found.group(1)) if found else 1


def batch_key(run_uid: str, batch_id: str) -> str:
    """The Dask key of a batch: the same run and batch always map to the same task, never to two."""
    return f"retrodiction-batch-{run_uid}-{batch_id}"


def group_batches(
    batches: Sequence[TrainingBatch],
    forecasts_per_cell: int,
    *,
    max_forecasts: int = MAX_GROUP_FORECASTS,
    max_cells: int = MAX_GROUP_CELLS,
    max_batches: int = MAX_GROUP_BATCHES,
) -> list[BatchGroup]:
    """Groups of consecutive batches (in the order given) over the same variables, each within the budgets.

    `forecasts_per_cell` is what one target of one variable costs (models x horizons); 0 turns grouping off.
    Callers group the whole plan, not what is left of it, so a resumed run finds the same groups.
    """
    if forecasts_per_cell <= 0:
        return [BatchGroup((batch,)) for batch in batches]
    open_groups: dict[tuple[str, ...], list[TrainingBatch]] = {}
    closed: list[list[TrainingBatch]] = []
    for batch in batches:
        members = open_groups.setdefault(tuple(batch.variables), [])
        full = len(members) >= max_batches
        if members and (full or not _fits(members, batch, forecasts_per_cell, max_forecasts, max_cells)):
            closed.append(members)
            members = open_groups[tuple(batch.variables)] = []
        members.append(batch)
    closed.extend(open_groups.values())
    # The first member's plan position orders the groups, so early slices are still sent first.
    position = {id(batch): index for index, batch in enumerate(batches)}
    closed.sort(key=lambda members: position[id(members[0])])
    return [BatchGroup(tuple(members)) for members in closed]


def _fits(
    members: list[TrainingBatch], batch: TrainingBatch, forecasts_per_cell: int, max_forecasts: int, max_cells: int
) -> bool:
    width = len(batch.variables)
    targets = sum(member.n_targets for member in members) + batch.n_targets
    # The group reads from its first member's warm-up to its last member's end.
    rows = targets + members[0].n_rows - members[0].n_targets
    return targets * width * forecasts_per_cell <= max_forecasts and rows * width <= max_cells
