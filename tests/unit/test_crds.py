"""The CRDs are generated from the pydantic models; the checked-in YAML must be what the models generate."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from retrodiction.api.crd import CHART_CRD_DIRECTORY, all_crds, render, render_chart_template
from retrodiction.api.training import RetrodictionSpec

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "title", "uniqueItems", "const"}


def walk(node: Any, path: str = "") -> list[tuple[str, str, Any]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((path, key, value))
            found.extend(walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(walk(value, f"{path}[{index}]"))
    return found


@pytest.mark.parametrize("crd", all_crds(), ids=lambda crd: crd["metadata"]["name"])
def test_checked_in_crd_yaml_is_what_the_models_generate(crd: dict[str, Any]) -> None:
    path = REPO / "crds" / f"{crd['metadata']['name']}.yaml"
    assert path.exists(), f"missing {path}; run: python -m retrodiction.api.crd"
    assert path.read_text() == render(crd), "crds/ is stale; run: python -m retrodiction.api.crd"


@pytest.mark.parametrize("crd", all_crds(), ids=lambda crd: crd["metadata"]["name"])
def test_the_charts_crd_templates_are_what_the_models_generate(crd: dict[str, Any]) -> None:
    path = REPO / CHART_CRD_DIRECTORY / f"{crd['metadata']['name']}.yaml"
    assert path.read_text() == render_chart_template(crd), (
        "the chart's CRDs are stale; run: python -m retrodiction.api.crd"
    )


def test_the_chart_carries_no_crd_the_models_do_not_generate() -> None:
    generated = {f"{crd['metadata']['name']}.yaml" for crd in all_crds()}
    assert {path.name for path in (REPO / CHART_CRD_DIRECTORY).glob("*.yaml")} == generated
    assert {path.name for path in (REPO / "crds").glob("*.yaml")} == generated


@pytest.mark.parametrize("crd", all_crds(), ids=lambda crd: crd["metadata"]["name"])
def test_schemas_are_structural(crd: dict[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, key, value in walk(schema):
        assert key not in FORBIDDEN, f"{path}.{key}"
        if key == "additionalProperties":
            assert value is not False, path
        if key == "properties":
            assert isinstance(value, dict)
    assert yaml.safe_load(render(crd)) == crd


def test_training_crd_has_status_subresource_short_name_and_printer_columns() -> None:
    (crd,) = [c for c in all_crds() if c["spec"]["names"]["kind"] == "RetrodictionTraining"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"] == ["rt"]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Phase", "Progress", "%", "ETA", "Age"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [rule["rule"] for _, key, value in walk(spec) if key == "x-kubernetes-validations" for rule in value]
    assert "self.end > self.start" in rules
    assert spec["properties"]["retrodiction"]["properties"]["models"]["default"] == [
        "naive",
        "seasonal_naive",
        "window_average",
        "drift",
        "ses",
    ]
    # Object defaults are the models' own, so the API server stores what the CLI would have assumed.
    assert spec["properties"]["retrodiction"]["default"] == RetrodictionSpec().model_dump(by_alias=True)
