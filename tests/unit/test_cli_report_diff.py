"""`retrodiction report` and `retrodiction diff` on summary files: what reaches stdout, stderr and the exit code."""

import json
from pathlib import Path

import pytest

from retrodiction.api.summary import parse_summary
from retrodiction.cli import main
from retrodiction.entry import kubectl_plugin
from tests.unit.test_report_samples import make_summary

VARIABLES = ("gdp", "cpi", "unemp")


@pytest.fixture
def summaries(tmp_path: Path) -> tuple[Path, Path]:
    """A and B: the same run, then one where ses lost 0.1 of trust on every cell."""
    document = make_summary(VARIABLES, horizons=(1, 4))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(document))
    for result in document["results"]:
        if result["model"] == "ses":
            result["trust"] = {key: value - 0.1 for key, value in result["trust"].items()}
    b.write_text(json.dumps(document))
    return a, b


def test_report_prints_the_trust_table_and_writes_the_html_report(
    summaries: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "report.html"
    assert main(["report", str(summaries[0]), "--html", str(html)]) == 0
    out, err = capsys.readouterr()
    assert "Trust per variable and model" in out
    assert all(variable in out for variable in VARIABLES)
    assert err.strip() == f"summary: {summaries[0]}  report: {html}"
    assert "<svg" in html.read_text()


def test_report_as_json_gives_the_table_rows(summaries: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(summaries[0]), "--format", "json", "--top", "1"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {row["variable"] for row in document["rows"]} == {"gdp"}
    assert document["variablesLeftOut"] == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing.json", "error: missing.json: no such file"),
        ("not-json", "error: not-json: not a RetrodictionSummary"),
    ],
)
def test_report_of_a_bad_source_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, source: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-json").write_text("{")
    assert main(["report", source]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_the_kubectl_plugin_is_the_same_command(
    summaries: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["kubectl-retrodiction", "report", str(summaries[0]), "--format", "json"])
    assert kubectl_plugin() == 0
    assert json.loads(capsys.readouterr().out)["rows"]
    monkeypatch.setattr("sys.argv", ["kubectl-retrodiction", "--help"])
    with pytest.raises(SystemExit):
        kubectl_plugin()
    assert capsys.readouterr().out.startswith("usage: kubectl retrodiction")


def test_diff_exits_0_when_every_check_holds(summaries: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = summaries
    assert main(["diff", str(a), str(a), "--max-drop", "0", "--min-trust", "0"]) == 0
    assert "check failed" not in capsys.readouterr().err


def test_diff_exits_1_naming_each_model_whose_trust_fell_too_far(
    summaries: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = summaries
    assert main(["diff", str(a), str(b), "--max-drop", "0.05"]) == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("check failed")]
    assert [line.split(":")[1].strip() for line in failed] == ["ses at horizon 1", "ses at horizon 4"]


def test_diff_checks_only_the_models_asked_for(summaries: tuple[Path, Path]) -> None:
    a, b = summaries
    assert main(["diff", str(a), str(b), "--max-drop", "0.05", "--model", "naive", "-q"]) == 0
    assert main(["diff", str(a), str(b), "--max-drop", "0.05", "--model", "ses", "-q"]) == 1


def test_diff_on_the_lower_bound_uses_the_interval(summaries: tuple[Path, Path]) -> None:
    a, b = summaries
    assert main(["diff", str(a), str(b), "--max-drop", "0.09", "--on", "lower", "-q"]) == 1
    assert main(["diff", str(a), str(b), "--max-drop", "0.11", "--on", "lower", "-q"]) == 0


def test_diff_per_variable_fails_each_cell_below_the_floor(
    summaries: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = summaries
    floor = min(r.trust.mean for r in parse_summary(json.loads(b.read_text())).results if r.model == "ses") + 1e-9
    assert main(["diff", str(a), str(b), "--per-variable", "--min-trust", str(floor), "--model", "ses", "-q"]) == 1
    assert sum(line.startswith("check failed") for line in capsys.readouterr().err.splitlines()) == 1


def test_diff_as_json_lists_rows_and_failures(summaries: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = summaries
    assert main(["diff", str(a), str(b), "--max-drop", "0.05", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["checks"] == {"minTrust": None, "maxDrop": 0.05, "on": "mean"}
    assert len(document["failures"]) == 2
    ses = next(row for row in document["rows"] if row["model"] == "ses" and row["horizon"] == 1)
    assert ses["a"]["trust"]["mean"] - ses["b"]["trust"]["mean"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--min-trust", "1.5"], "error: --min-trust: must be between 0 and 1 (a trust), got 1.5"),
        (["--model", "arima"], "error: --model arima: summary A has no results of this model"),
        (["--horizon", "99"], "have no scored result in common to compare"),
    ],
)
def test_diff_of_bad_input_exits_2_with_one_line(
    summaries: tuple[Path, Path], capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    a, b = summaries
    assert main(["diff", str(a), str(b), *options]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_diff_of_a_missing_summary_exits_2_naming_it(
    summaries: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(summaries[0]), "nowhere.json"]) == 2
    assert capsys.readouterr().err == "error: nowhere.json: no such file\n"
