"""The published JSON Schema of the summary document, generated from its model.

`python -m retrodiction.api.summary_schema` writes docs/reference/summary.schema.json (or the path given); a unit
test fails when the checked-in file is not what the model generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from retrodiction.api.summary import RetrodictionSummary
from retrodiction.identity import SUMMARY_KIND

SCHEMA_PATH = Path("docs/reference/summary.schema.json")


def summary_json_schema() -> dict[str, Any]:
    """The schema readers validate against: the validation side, by the document's (camelCase) field names."""
    schema = RetrodictionSummary.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": SUMMARY_KIND}


def render() -> str:
    return json.dumps(summary_json_schema(), indent=2) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())
    print(target)
