"""Bad input ends with one line naming the field, exit code 2, and no traceback."""

import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from retrodiction.cli import EXIT_BAD_INPUT, main

MANIFEST = """apiVersion: training.retrodiction.dev/v1alpha1
kind: RetrodictionTraining
metadata: {{name: bad}}
spec:
  variables: {variables}
  window: {{start: "{start}", end: "{end}", batchSizeDays: 365}}
  data: {{uri: "{uri}"}}
  retrodiction: {{models: {models}}}
"""


@dataclass(frozen=True)
class Fields:
    """The manifest's fields a test sets: a valid training unless one of them says otherwise."""

    variables: str = "[realgdp, cpi]"
    start: str = "1990-01-01T00:00:00Z"
    end: str = "2000-01-01T00:00:00Z"
    uri: str = "builtin://macrodata"
    models: str = "[naive, ses]"


def manifest(tmp_path: Path, fields: Fields = Fields()) -> Path:
    path = tmp_path / "rt.yaml"
    path.write_text(MANIFEST.format(**asdict(fields)))
    return path


def run_cli(path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[int, str]:
    code = main(["train", str(path), "--quiet", "--output", str(tmp_path / "s.json")])
    return code, capsys.readouterr().err


@pytest.fixture
def text_column_csv(tmp_path: Path) -> str:
    path = tmp_path / "mixed.csv"
    path.write_text("date,level,label\n2000-01-01,1.0,a\n2000-02-01,2.0,b\n2000-03-01,3.5,c\n")
    return path.as_uri()


@pytest.mark.parametrize(
    ("case", "field", "words"),
    [
        ({"variables": "[realgdp, gdp_typo]"}, "spec.variables", "gdp_typo"),
        ({"start": "1800-01-01T00:00:00Z", "end": "1850-01-01T00:00:00Z"}, "spec.window", "no observation"),
        ({"end": "1980-01-01T00:00:00Z"}, "spec.window", "end must be after start"),
        ({"models": "[naive, prophet]"}, "spec.retrodiction.models[1]", "prophet"),
        ({"uri": "file:///nonexistent/data.csv"}, "spec.data.uri", ""),
        ({"uri": "builtin://no-such-dataset"}, "spec.data.uri", "no-such-dataset"),
        ({"uri": "nosuchproto://bucket/data.csv"}, "spec.data.uri", ""),
    ],
)
def test_bad_spec_exits_2_with_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: dict[str, str], field: str, words: str
) -> None:
    code, err = run_cli(manifest(tmp_path, Fields(**case)), capsys, tmp_path)
    assert code == EXIT_BAD_INPUT
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {field}: ")
    assert words in lines[0]
    assert not (tmp_path / "s.json").exists()


def test_a_non_numeric_column_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text_column_csv: str
) -> None:
    code, err = run_cli(
        manifest(
            tmp_path,
            Fields(
                variables="[level, label]",
                uri=text_column_csv,
                start="2000-01-01T00:00:00Z",
                end="2000-06-01T00:00:00Z",
            ),
        ),
        capsys,
        tmp_path,
    )
    assert code == EXIT_BAD_INPUT
    assert err.strip().startswith("error: spec.variables: ")
    assert "label" in err and len(err.strip().splitlines()) == 1


def test_malformed_yaml_exits_2_with_the_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kind: RetrodictionTraining\nspec: {variables: [a, b}\n")
    code, err = run_cli(path, capsys, tmp_path)
    assert code == EXIT_BAD_INPUT
    assert "malformed YAML at line 2" in err and len(err.strip().splitlines()) == 1


def test_an_unwritable_output_is_refused_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["train", str(manifest(tmp_path)), "--quiet", "--output", str(blocker / "s.json")])
    assert code == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith("error: --output: ")


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    path = manifest(tmp_path, Fields(variables="[nope]"))
    done = subprocess.run(
        [sys.executable, "-m", "retrodiction.cli", "train", str(path), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: spec.variables: ")
