"""The CustomResourceDefinitions, generated from the pydantic models (the single source of truth).

python -m retrodiction.api.crd crds/          # rewrite the checked-in YAML after changing a model
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from retrodiction.api.schema import structural_schema
from retrodiction.api.status import RetrodictionTrainingStatus
from retrodiction.api.training import GROUP, VERSION, RetrodictionTrainingSpec

CATEGORY = "retrodiction"


def _crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, Any]],
    description: str,
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": structural_schema(spec),
                                "status": structural_schema(status),
                            },
                        }
                    },
                }
            ],
        },
    }


def training_crd() -> dict[str, Any]:
    return _crd(
        kind="RetrodictionTraining",
        plural="retrodictiontrainings",
        short_names=["rt"],
        spec=RetrodictionTrainingSpec,
        status=RetrodictionTrainingStatus,
        description="A retrodiction training run: history replayed in batches on Dask to score forecasting rules.",
        columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Progress", "type": "string", "jsonPath": ".status.progress"},
            {"name": "%", "type": "number", "jsonPath": ".status.completedPercentage"},
            {
                "name": "ETA",
                "type": "integer",
                "jsonPath": ".status.estimatedRemainingSeconds",
                "description": "Estimated seconds until the last batch finishes",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def all_crds() -> list[dict[str, Any]]:
    return [training_crd()]


def render(crd: dict[str, Any]) -> str:
    header = "# Generated from the pydantic models by `python -m retrodiction.api.crd`; do not edit by hand.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120)


def write_crds(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for crd in all_crds():
        path = directory / f"{crd['metadata']['name']}.yaml"
        path.write_text(render(crd))
        written.append(path)
    return written


if __name__ == "__main__":
    for target in sys.argv[1:] or ["crds"]:
        for written_path in write_crds(Path(target)):
            print(written_path)
