"""A RetrodictionTraining spec the default admin policy accepts, for tests that change one field of it."""

from __future__ import annotations

from typing import Any

from retrodiction.api.training import RetrodictionTrainingSpec


def accepted_spec(**overrides: Any) -> RetrodictionTrainingSpec:
    """Each keyword replaces one top-level field of the spec."""
    doc: dict[str, Any] = {
        "variables": ["realgdp", "cpi"],
        "window": {"start": "1990-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"},
        "data": {"uri": "builtin://macrodata"},
    }
    doc.update(overrides)
    return RetrodictionTrainingSpec.model_validate(doc)
