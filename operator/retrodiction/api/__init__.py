"""The custom resources' schema: pydantic models that are the single source of truth for the CRDs."""

from retrodiction.api.training import (
    GROUP,
    VERSION,
    DaskSpec,
    DataSpec,
    ExecutionSpec,
    OutputSpec,
    RetrodictionSpec,
    RetrodictionTraining,
    RetrodictionTrainingSpec,
    WindowSpec,
)

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
