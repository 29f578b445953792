"""The custom resources' schema: pydantic models that are the single source of truth for the CRDs."""

from retrodiction.api.training import (
    DaskSpec,
    DataSpec,
    ExecutionSpec,
    OutputSpec,
    RetrodictionSpec,
    RetrodictionTraining,
    RetrodictionTrainingSpec,
    WindowSpec,
)
from retrodiction.identity import GROUP, VERSION

__all__ = [
    "GROUP",
    "VERSION",
    "DaskSpec",
    "DataSpec",
    "ExecutionSpec",
    "OutputSpec",
    "RetrodictionSpec",
    "RetrodictionTraining",
    "RetrodictionTrainingSpec",
    "WindowSpec",
]
