"""The CustomResourceDefinitions, generated from the pydantic models (the single source of truth).

python -m retrodiction.api.crd       # rewrite crds/ and the chart's CRD templates after changing a model
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from retrodiction.api.schedule import RetrodictionScheduleSpec, RetrodictionScheduleStatus
from retrodiction.api.schema import structural_schema
from retrodiction.api.status import RetrodictionTrainingStatus
from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.identity import (
    CATEGORY,
    GENERATED_FROM_ANNOTATION,
    GROUP,
    SCHEDULE_KIND,
    SCHEDULE_SHORT_NAMES,
    SCHEDULES,
    TRAINING_KIND,
    TRAINING_SHORT_NAMES,
    TRAININGS,
    VERSION,
)


@dataclass(frozen=True)
class Resource:
    """One custom resource of the project: its names, the models of its spec and status, its printer columns."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: tuple[dict[str, Any], ...] = field(default=())


def _crd(resource: Resource) -> dict[str, Any]:
    kind, plural = resource.kind, resource.plural
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
                "shortNames": list(resource.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(resource.columns),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": resource.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": structural_schema(resource.spec),
                                "status": structural_schema(resource.status),
                            },
                        }
                    },
                }
            ],
        },
    }


def training_crd() -> dict[str, Any]:
    return _crd(
        Resource(
            kind=TRAINING_KIND,
            plural=TRAININGS,
            short_names=TRAINING_SHORT_NAMES,
            spec=RetrodictionTrainingSpec,
            status=RetrodictionTrainingStatus,
            description="A retrodiction training run: history replayed in batches on Dask to score forecasting rules.",
            columns=(
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
            ),
        )
    )


def schedule_crd() -> dict[str, Any]:
    return _crd(
        Resource(
            kind=SCHEDULE_KIND,
            plural=SCHEDULES,
            short_names=SCHEDULE_SHORT_NAMES,
            spec=RetrodictionScheduleSpec,
            status=RetrodictionScheduleStatus,
            description="Recurring RetrodictionTrainings on a cron schedule, each scoring the history before its slot.",
            columns=(
                {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
                {"name": "Timezone", "type": "string", "jsonPath": ".spec.timeZone", "priority": 1},
                {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
                {"name": "Active", "type": "integer", "jsonPath": ".status.activeCount"},
                {"name": "Last", "type": "date", "jsonPath": ".status.lastScheduleTime"},
                {"name": "Next", "type": "date", "jsonPath": ".status.nextScheduleTime"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ),
        )
    )


def kopf_peering_crds() -> list[dict[str, Any]]:
    """Kopf's peering resources (kopf.dev/v1), needed only for a standby replica (RETRODICTION_PEERING).

    Kopf documents these CRDs but does not install them; the peers write themselves into `status`, so the schema
    keeps whatever they write."""
    preserved = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return [
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.kopf.dev"},
            "spec": {
                "group": "kopf.dev",
                "scope": scope,
                "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {"spec": preserved, "status": preserved},
                            }
                        },
                    }
                ],
            },
        }
        for kind, plural, scope in (
            ("ClusterKopfPeering", "clusterkopfpeerings", "Cluster"),
            ("KopfPeering", "kopfpeerings", "Namespaced"),
        )
    ]


def all_crds() -> list[dict[str, Any]]:
    return [training_crd(), schedule_crd(), *kopf_peering_crds()]


def render(crd: dict[str, Any]) -> str:
    header = "# Generated by `python -m retrodiction.api.crd`; do not edit by hand.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120)


CHART_CRD_DIRECTORY = Path("charts/retrodiction-operator/templates/crds")
# The peering CRDs are only for standby replicas; a cluster may already have them from another Kopf operator.
_CHART_CONDITIONS = {"kopf.dev": ".Values.peering.enabled"}


def render_chart_template(crd: dict[str, Any]) -> str:
    """The CRD as a Helm template: the same YAML as crds/, plus the release's labels and the keep policy.

    A template rather than a file in the chart's crds/ folder, because Helm installs crds/ once and never upgrades
    it; as a template `helm upgrade` applies CRD changes like any other object."""
    name = crd["metadata"]["name"]
    text = render(crd)
    if "{{" in text:
        raise ValueError(f"{name}: the schema contains '{{{{', which Helm would read as a template")
    metadata = f"metadata:\n  name: {name}\n"
    templated = (
        f"metadata:\n  name: {name}\n"
        "  annotations:\n"
        f"    {GENERATED_FROM_ANNOTATION}: crds/{name}.yaml\n"
        "    {{- if .Values.crds.keep }}\n"
        "    helm.sh/resource-policy: keep\n"
        "    {{- end }}\n"
        "  labels:\n"
        '    {{- include "retrodiction-operator.labels" . | nindent 4 }}\n'
    )
    extra = [value for group, value in _CHART_CONDITIONS.items() if name.endswith(f".{group}")]
    condition = f"and .Values.crds.install {' '.join(extra)}" if extra else ".Values.crds.install"
    return "{{- if " + condition + " }}\n" + text.replace(metadata, templated, 1) + "{{- end }}\n"


def write_crds(directory: Path, renderer: Callable[[dict[str, Any]], str] = render) -> list[Path]:
    """One file per CRD, named after it: `render` for crds/, `render_chart_template` for the chart."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for crd in all_crds():
        path = directory / f"{crd['metadata']['name']}.yaml"
        path.write_text(renderer(crd))
        written.append(path)
    return written


if __name__ == "__main__":
    crd_directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("crds")
    chart_directory = Path(sys.argv[2]) if len(sys.argv) > 2 else CHART_CRD_DIRECTORY
    for written_path in [*write_crds(crd_directory), *write_crds(chart_directory, render_chart_template)]:
        print(written_path)
