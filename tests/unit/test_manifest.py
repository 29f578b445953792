from pathlib import Path

import pytest

from retrodiction.manifest import ManifestError, load_training

VALID = """
apiVersion: training.retrodiction.dev/v1alpha1
kind: RetrodictionTraining
metadata: {name: demo}
spec:
  variables: [realgdp, cpi]
  window: {start: "1990-01-01T00:00:00Z", end: "2000-01-01T00:00:00Z"}
  data: {uri: "builtin://macrodata"}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rt.yaml"
    path.write_text(text)
    return path


def test_a_minimal_manifest_gets_the_documented_defaults(tmp_path: Path) -> None:
    training = load_training(_write(tmp_path, VALID))
    spec = training.spec
    assert spec.window.batch_size_days == 365
    assert spec.retrodiction.models == ["naive", "seasonal_naive", "window_average", "drift", "ses"]
    assert spec.retrodiction.horizons == [1]
    assert spec.dask.mode == "kubernetes"
    assert spec.output.config_map.enabled is True


def test_other_documents_in_the_file_are_ignored(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n" + VALID
    assert load_training(_write(tmp_path, text)).metadata.name == "demo"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (('2000-01-01T00:00:00Z"}', '1980-01-01T00:00:00Z"}'), "spec.window", "end must be after start"),
        (("[realgdp, cpi]", "[realgdp, realgdp]"), "spec.variables", "duplicate"),
        (
            ("data: {uri", "retrodiction: {models: [naive, oracle]}\n  data: {uri"),
            "spec.retrodiction.models[1]",
            "unknown value 'oracle'",
        ),
        (
            ("data: {uri", "retrodiction: {horizons: [0]}\n  data: {uri"),
            "spec.retrodiction.horizons[0]",
            "must be >= 1, got 0",
        ),
        (("data: {uri", "dask: {mode: address}\n  data: {uri"), "spec.dask", "address is required"),
        (("data: {uri", "windw: {}\n  data: {uri"), "spec.windw", "unknown field"),
        (("  variables: [realgdp, cpi]\n", ""), "spec.variables", "required"),
    ],
)
def test_invalid_specs_name_the_field_in_one_line(
    tmp_path: Path, change: tuple[str, str], field: str, words: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        load_training(_write(tmp_path, VALID.replace(*change)))
    assert caught.value.field == field
    assert words in caught.value.message
    assert "\n" not in str(caught.value)


def test_malformed_yaml_reports_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"malformed YAML at line \d+, column \d+"):
        load_training(_write(tmp_path, VALID + "  bad: [unclosed\n"))


def test_a_file_without_a_training_says_what_it_found(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="found kind ConfigMap"):
        load_training(_write(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
