"""Running batches on Dask: the worker task, clusters, checkpoints and progress."""

from retrodiction.execution.checkpoint import CheckpointStore, FsspecCheckpoint, MemoryCheckpoint
from retrodiction.execution.clusters import local_cluster_client, scheduler_client
from retrodiction.execution.progress import Progress, ProgressTracker
from retrodiction.execution.task import BatchResult, BatchTask, run_batch

__all__ = [
    "BatchResult",
    "BatchTask",
    "CheckpointStore",
    "FsspecCheckpoint",
    "MemoryCheckpoint",
    "Progress",
    "ProgressTracker",
    "local_cluster_client",
    "run_batch",
    "scheduler_client",
]
