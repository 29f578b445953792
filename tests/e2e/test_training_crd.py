"""The RetrodictionTraining CRD on a real API server: what the schema and its CEL rules reject, and defaults."""

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction.identity import GROUP, VERSION
from retrodiction.kube_client import as_dict
from retrodiction_harness.cluster import Kube
from retrodiction_harness.crds import apply_project_crds
from tests.e2e.runs import api_message

REPO = Path(__file__).resolve().parents[2]
PLURAL = "retrodictiontrainings"
CRD_FILE = REPO / "crds" / f"{PLURAL}.{GROUP}.yaml"

VALID: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "RetrodictionTraining",
    "metadata": {"name": "valid"},
    "spec": {
        "variables": ["realgdp", "cpi"],
        "window": {"start": "1990-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"},
        "data": {"uri": "builtin://macrodata"},
    },
}


@pytest.fixture(scope="module")
def training_crd(kube: Kube) -> None:
    # Left installed afterwards: on an existing cluster it may be the chart's, and a local one is thrown away.
    apply_project_crds(kube.api)


def create(kube: Kube, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    api = client.CustomObjectsApi(kube.api)
    return as_dict(api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body))


def mutated(change: Callable[[dict[str, Any]], None], name: str = "invalid") -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    body["metadata"]["name"] = name
    change(body["spec"])
    return body


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.pop(key)


MISTAKES = [
    ("end before start", _set("window.end", "1980-01-01T00:00:00Z"), "end must be after start"),
    ("start not a time", _set("window.start", "last tuesday"), "spec.window.start"),
    ("no variables", _drop("variables"), "spec.variables: Required value"),
    ("empty variables", _set("variables", []), "spec.variables"),
    ("duplicate variable", _set("variables", ["cpi", "cpi"]), "Duplicate value"),
    ("unknown model", _set("retrodiction.models", ["naive", "prophet"]), 'Unsupported value: "prophet"'),
    ("horizon zero", _set("retrodiction.horizons", [0]), "spec.retrodiction.horizons[0]"),
    ("batch of zero days", _set("window.batchSizeDays", 0), "spec.window.batchSizeDays"),
    ("alpha above one", _set("retrodiction.sesAlpha", 1.5), "spec.retrodiction.sesAlpha"),
    ("negative tolerance", _set("retrodiction.tolerance", -1), "spec.retrodiction.tolerance"),
    ("unknown data format", _set("data.format", "xlsx"), 'Unsupported value: "xlsx"'),
    ("no data uri", lambda spec: spec["data"].pop("uri"), "spec.data.uri: Required value"),
    ("address mode without address", _set("dask.mode", "address"), "address is required when mode is address"),
    ("address with kubernetes mode", _set("dask.address", "tcp://x:8786"), "address is required when mode is address"),
    ("zero workers", _set("dask.workers", 0), "spec.dask.workers"),
    ("negative retries", _set("execution.batchRetries", -1), "spec.execution.batchRetries"),
    ("credentials without output uri", _set("output.credentialsSecretRef", {"name": "s3"}), "needs uri"),
    (
        "unknown statsforecast class",
        _set("retrodiction.customModels", [{"name": "p", "statsforecast": {"model": "Prophet"}}]),
        'spec.retrodiction.customModels[0].statsforecast.model: Unsupported value: "Prophet"',
    ),
    (
        "custom model named like a builtin",
        _set("retrodiction.customModels", [{"name": "naive", "statsforecast": {"model": "Naive"}}]),
        "name must differ from the builtin models' names",
    ),
    (
        "custom model with two sources",
        _set(
            "retrodiction.customModels",
            [{"name": "x", "statsforecast": {"model": "Naive"}, "plugin": {"entryPoint": "x"}}],
        ),
        "exactly one of statsforecast and plugin is required",
    ),
    (
        "custom model names repeated",
        _set("retrodiction.customModels", [{"name": "x", "plugin": {"entryPoint": "a"}}] * 2),
        "spec.retrodiction.customModels[1]: Duplicate value",
    ),
    (
        "no model at all",
        _set("retrodiction", {"models": [], "customModels": []}),
        "models and customModels must name at least one model between them",
    ),
    (
        "interval level of 100%",
        _set("retrodiction.customModels", [{"name": "x", "plugin": {"entryPoint": "a"}, "levels": [100]}]),
        "spec.retrodiction.customModels[0].levels[0]",
    ),
]


@pytest.mark.usefixtures("training_crd")
@pytest.mark.parametrize(("change", "words"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_the_api_server_rejects_an_invalid_training(
    kube: Kube, namespace: str, change: Callable[[dict[str, Any]], None], words: str
) -> None:
    with pytest.raises(ApiException) as caught:
        create(kube, namespace, mutated(change))
    assert caught.value.status == 422
    assert words in api_message(caught.value)


@pytest.mark.usefixtures("training_crd")
def test_a_minimal_training_is_stored_with_the_documented_defaults(kube: Kube, namespace: str) -> None:
    stored = create(kube, namespace, copy.deepcopy(VALID))["spec"]
    assert stored["window"]["batchSizeDays"] == 365
    assert stored["variablesPerBatch"] == 50
    assert stored["retrodiction"]["models"] == ["naive", "seasonal_naive", "window_average", "drift", "ses"]
    assert stored["retrodiction"]["horizons"] == [1]
    assert stored["dask"] == {"mode": "kubernetes", "workers": 2, "resources": {}}
    assert stored["execution"]["batchRetries"] == 2
    assert stored["output"]["configMap"] == {"enabled": True}
    assert stored["data"]["format"] == "auto"


@pytest.mark.usefixtures("training_crd")
def test_every_example_manifest_is_accepted(kube: Kube, namespace: str) -> None:
    for path in sorted((REPO / "examples").glob("training-*.yaml")):
        body = yaml.safe_load(path.read_text())
        body["metadata"].pop("namespace", None)
        create(kube, namespace, body)


@pytest.mark.usefixtures("training_crd")
def test_status_written_by_the_operator_fits_the_status_schema(kube: Kube, namespace: str) -> None:
    create(kube, namespace, copy.deepcopy(VALID))
    api = client.CustomObjectsApi(kube.api)
    status = {
        "phase": "Running",
        "observedGeneration": 1,
        "startTime": "2026-11-29T08:00:00Z",
        "batches": {"total": 40, "succeeded": 12, "failed": 0, "running": 2, "resumed": 0},
        "progress": "12/40",
        "completedPercentage": 30.0,
        "estimatedRemainingSeconds": 95,
        "conditions": [
            {
                "type": "ClusterReady",
                "status": "True",
                "reason": "SchedulerAnswered",
                "message": "",
                "lastTransitionTime": "2026-11-29T08:00:05Z",
            }
        ],
    }
    api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, "valid", {"status": status})
    stored = as_dict(api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "valid"))
    assert stored["status"] == status
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, "valid", {"status": {"phase": "Exploded"}}
        )
    assert caught.value.status == 422
