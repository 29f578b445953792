"""examples/gitops renders with `kubectl kustomize`, and the trainings it renders are ones the operator accepts.

Both kinds are validated against their models, as the API server's schema (generated from them) would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrodiction.api.schedule import RetrodictionSchedule
from retrodiction.api.training import RetrodictionTraining
from retrodiction_harness.binaries import tool
from retrodiction_harness.repo import REPO_ROOT

GITOPS = REPO_ROOT / "examples" / "gitops"
PRODUCTION_NAMESPACE = "retrodiction-prod"


@pytest.fixture(scope="module")
def kubectl(tools: None) -> Path:
    return tool("kubectl")


def kustomize(kubectl: Path, directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The rendered objects by (kind, name)."""
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def test_base_renders_the_macrodata_training_and_the_nightly_schedule(kubectl: Path) -> None:
    rendered = kustomize(kubectl, GITOPS / "base")
    assert set(rendered) == {("RetrodictionTraining", "macrodata"), ("RetrodictionSchedule", "demand-nightly")}
    assert all("namespace" not in doc["metadata"] for doc in rendered.values())
    training = RetrodictionTraining.model_validate(rendered["RetrodictionTraining", "macrodata"])
    # The base carries the top-level example, not a variant of it.
    example = yaml.safe_load((REPO_ROOT / "examples" / "training-macrodata.yaml").read_text())
    assert training.spec == RetrodictionTraining.model_validate(example).spec


def test_production_overlay_puts_everything_in_its_namespace(kubectl: Path) -> None:
    rendered = kustomize(kubectl, GITOPS / "overlays" / "production")
    assert set(rendered) == {("RetrodictionTraining", "macrodata"), ("RetrodictionSchedule", "demand-nightly")}
    assert {doc["metadata"]["namespace"] for doc in rendered.values()} == {PRODUCTION_NAMESPACE}


def test_production_overlay_scales_the_training_and_stores_its_summary_in_object_storage(kubectl: Path) -> None:
    base = RetrodictionTraining.model_validate(kustomize(kubectl, GITOPS / "base")["RetrodictionTraining", "macrodata"])
    rendered = kustomize(kubectl, GITOPS / "overlays" / "production")
    spec = RetrodictionTraining.model_validate(rendered["RetrodictionTraining", "macrodata"]).spec
    assert spec.dask.workers == 8
    assert spec.dask.resources == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}
    assert spec.output.uri == "s3://retrodiction-results/macrodata/"
    assert spec.output.credentials_secret_ref is not None
    assert spec.output.credentials_secret_ref.name == "results-s3"
    # The patch merges: everything it does not name stays as in the base.
    assert spec.model_copy(update={"dask": base.spec.dask, "output": base.spec.output}) == base.spec


def test_production_overlay_scales_the_schedules_runs_and_keeps_its_timing(kubectl: Path) -> None:
    base_schedule = kustomize(kubectl, GITOPS / "base")["RetrodictionSchedule", "demand-nightly"]
    schedule = kustomize(kubectl, GITOPS / "overlays" / "production")["RetrodictionSchedule", "demand-nightly"]
    for rendered in (base_schedule, schedule):
        RetrodictionSchedule.model_validate(rendered)
    base, spec = base_schedule["spec"], schedule["spec"]
    template = spec["template"]["spec"]
    assert template["dask"] == {
        "mode": "kubernetes",
        "workers": 8,
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
    }
    assert template["output"] == {
        "uri": "s3://retrodiction-results/demand-nightly/",
        "credentialsSecretRef": {"name": "results-s3"},
    }
    assert {key: value for key, value in spec.items() if key != "template"} == {
        key: value for key, value in base.items() if key != "template"
    }
    assert {key: value for key, value in template.items() if key not in ("dask", "output")} == {
        key: value for key, value in base["template"]["spec"].items() if key not in ("dask", "output")
    }
