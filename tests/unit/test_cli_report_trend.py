"""`retrodiction report A B C...` on summary files: each model's trust over the runs, in the order of their windows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrodiction.cli import main
from tests.unit.test_report_samples import MODELS, make_summary

VARIABLES = ("gdp", "cpi", "unemp")
# Window ends of the files, in the order they are given on the command line: not the order of time.
ENDS = ("2026-12-03", "2026-12-01", "2026-12-04", "2026-12-02")


@pytest.fixture
def sources(tmp_path: Path) -> list[Path]:
    paths = []
    for seed, end in enumerate(ENDS):
        document = make_summary(VARIABLES, seed=seed)
        document["run"]["name"] = f"nightly-{end}"
        document["run"]["window"]["end"] = f"{end}T00:00:00Z"
        path = tmp_path / f"summary-{seed}.json"
        path.write_text(json.dumps(document))
        paths.append(path)
    return paths


def test_several_summaries_show_trust_per_run_in_the_order_of_their_windows(
    sources: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *map(str, sources)]) == 0
    out, err = capsys.readouterr()
    assert "Trust over time: 4 summaries" in out
    header = next(line for line in out.splitlines() if "Model" in line)
    # Month and day: the short headers of a table as narrow as a pipe's 80 columns.
    positions = [header.index(end[5:]) for end in sorted(ENDS)]
    assert positions == sorted(positions)
    assert header.split()[-1] in {"Change", "Δ"}  # the change's full or short header
    assert all(model in out for model in MODELS)
    assert err.strip() == "summaries: " + ", ".join(map(str, sources))


def test_several_summaries_as_json_give_one_entry_per_run_and_model(
    sources: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *map(str, sources), "--format", "json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert err == ""
    assert [slot["run"] for slot in document["slots"]] == [f"nightly-{end}" for end in sorted(ENDS)]
    assert {slot["phase"] for slot in document["slots"]} == {"Succeeded"}
    assert document["slots"][0]["scheduledTime"] == "2026-12-01T00:00:00Z"
    assert len(document["rows"]) == len(MODELS) * 2
    assert all(len(row["slots"]) == len(ENDS) and None not in row["slots"] for row in document["rows"])


def test_several_summaries_write_the_trend_page(
    sources: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "trend.html"
    assert main(["report", *map(str, sources), "--html", str(html)]) == 0
    page = html.read_text()
    assert "<svg" in page
    assert 'id="trust-trend-h1-figure"' in page
    assert 'id="trust-trend-h4-figure"' in page
    assert capsys.readouterr().err.rstrip().endswith(f"  report: {html}")


def test_a_run_without_a_name_is_named_after_its_source(
    sources: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(sources[0].read_text())
    document["run"]["name"] = ""
    sources[0].write_text(json.dumps(document))
    assert main(["report", *map(str, sources[:2]), "--format", "json"]) == 0
    runs = [slot["run"] for slot in json.loads(capsys.readouterr().out)["slots"]]
    assert runs == ["nightly-2026-12-01", str(sources[0])]


def test_the_same_run_twice_is_named_in_the_title(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "macro.json"
    path.write_text(json.dumps(make_summary(VARIABLES)))
    assert main(["report", str(path), str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schedule"] == "macro"
    assert len(document["slots"]) == 2


def test_top_with_several_summaries_exits_2_with_one_line(
    sources: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *map(str, sources), "--top", "3"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: --top: the variables of one summary")
    assert err.count("\n") == 1


def test_a_missing_summary_among_several_exits_2_naming_it(
    sources: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    assert main(["report", *map(str, sources), str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {missing}: no such file\n"


def test_one_summary_still_shows_its_trust_table(sources: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(sources[0])]) == 0
    out, err = capsys.readouterr()
    assert "Trust per variable and model" in out
    assert "Trust over time" not in out
    assert err.strip() == f"summary: {sources[0]}"
