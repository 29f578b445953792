"""The seed module's import path (`recursive_training.parallel_trainer`), kept for code written against it."""

from retrodiction.batches import TrainingBatch
from retrodiction.coordinator import ParallelTrainingCoordinator, run_parallel_retrodiction_training

__all__ = ["ParallelTrainingCoordinator", "TrainingBatch", "run_parallel_retrodiction_training"]
