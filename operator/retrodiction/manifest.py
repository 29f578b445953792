"""Reading a RetrodictionTraining manifest: the same YAML a user would `kubectl apply`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from retrodiction.api.errors import format_validation_error
from retrodiction.api.training import RetrodictionTraining

# libyaml's parser when PyYAML was built with it (its wheels are): the same safe constructor, ten times faster than
# the pure-Python parser, which took a fifth of a second for a manifest listing 2,000 variables.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestError(ValueError):
    """Invalid input, named by its field: `str(err)` is one line."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _documents(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError(str(path), f"cannot read the file ({err.strerror or err})") from None
    try:
        documents = yaml.load_all(text, Loader=_LOADER)
        return [doc for doc in documents if doc is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ManifestError(str(path), f"malformed YAML{where}: {problem}") from None


def load_training(path: str | Path) -> RetrodictionTraining:
    """The first RetrodictionTraining in a YAML file (other documents, e.g. a Secret, are ignored)."""
    file = Path(path)
    documents = _documents(file)
    trainings = [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "RetrodictionTraining"]
    if not trainings:
        kinds = sorted({str(doc.get("kind")) for doc in documents if isinstance(doc, dict)})
        found = f"; found kind {', '.join(kinds)}" if kinds else ""
        raise ManifestError("kind", f"{file} holds no RetrodictionTraining{found}")
    try:
        return RetrodictionTraining.model_validate(trainings[0])
    except ValidationError as err:
        text = format_validation_error(err)
        field, _, message = text.partition(": ")
        raise ManifestError(field, message) from None
