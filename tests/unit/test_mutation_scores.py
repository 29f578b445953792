"""`make mutation` scores what mutmut found: killed over non-equivalent mutants per module, and an equivalent-mutant
entry that no longer holds fails the run instead of hiding a survivor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hack.mutation.run import report
from hack.mutation.score import (
    Equivalent,
    ModuleScore,
    Mutant,
    load_equivalents,
    load_modules,
    module_of,
    read_mutants,
    scores,
    source_of,
    stale_equivalents,
    verdict,
)

REPO = Path(__file__).resolve().parents[2]
MUTATION = REPO / "hack" / "mutation"
MODULES = {"engine": ["engine/*.py"], "batches": ["batches.py"]}
DIFF = """--- src/retrodiction/batches.py
+++ src/retrodiction/batches.py
@@ -1,3 +1,3 @@
-    width = max(6, len(str(len(slices) - 1)))
+    width = max(7, len(str(len(slices) - 1)))
"""


@pytest.mark.parametrize(
    ("exit_code", "expected"),
    [
        *[(code, "killed") for code in (1, 3, 36, -9)],
        *[(code, "survived") for code in (0, 5, 33)],
        *[(code, "unknown") for code in (None, 34, 35)],
    ],
)
def test_a_timeout_or_crash_kills_and_a_mutant_no_test_ran_survives(exit_code: int | None, expected: str) -> None:
    assert verdict(exit_code) == expected


def test_the_score_is_killed_over_mutants_that_are_not_equivalent() -> None:
    mutants = [
        Mutant("retrodiction.batches.x_a__mutmut_1", "batches.py", "killed"),
        Mutant("retrodiction.batches.x_a__mutmut_2", "batches.py", "killed"),
        Mutant("retrodiction.batches.x_a__mutmut_3", "batches.py", "killed"),
        Mutant("retrodiction.batches.x_a__mutmut_4", "batches.py", "survived"),
        Mutant("retrodiction.batches.x_a__mutmut_5", "batches.py", "survived"),
        Mutant("retrodiction.engine.lags.x_b__mutmut_1", "engine/lags.py", "unknown"),
        Mutant("retrodiction.cli.x_c__mutmut_1", "cli.py", "survived"),
    ]
    equivalent = [Equivalent("retrodiction.batches.x_a__mutmut_5", "x", "same")]
    table = scores(mutants, MODULES, equivalent)
    assert table["batches"].mutants == 5
    assert table["batches"].killed == 3
    assert table["batches"].equivalent == 1
    assert table["batches"].survivors == ["retrodiction.batches.x_a__mutmut_4"]
    assert table["batches"].score == 0.75
    # Not run is neither killed nor survived, and never a pass; files outside the modules are not counted.
    assert table["engine"].unknown == ["retrodiction.engine.lags.x_b__mutmut_1"]
    assert table["engine"].score == 0.0
    assert sum(row.mutants for row in table.values()) == 6


def test_a_module_whose_mutants_are_all_equivalent_scores_one() -> None:
    table = scores([Mutant("m", "batches.py", "survived")], MODULES, [Equivalent("m", "x", "same")])
    assert table["batches"].score == 1.0


def test_a_mutant_name_points_at_its_file() -> None:
    assert source_of("retrodiction.engine.lags.xǁLaggedRowsǁat__mutmut_2") == "engine/lags.py"
    assert source_of("retrodiction.batches.x_plan_batches__mutmut_5") == "batches.py"
    assert module_of("engine/lags.py", MODULES) == "engine"
    assert module_of("controller/status.py", MODULES) is None


def test_mutmut_results_are_read_per_file(tmp_path: Path) -> None:
    (tmp_path / "engine").mkdir()
    meta = {
        "exit_code_by_key": {"retrodiction.engine.lags.x_f__mutmut_1": 1, "retrodiction.engine.lags.x_f__mutmut_2": 0}
    }
    (tmp_path / "engine" / "lags.py.meta").write_text(json.dumps(meta))
    assert read_mutants(tmp_path) == [
        Mutant("retrodiction.engine.lags.x_f__mutmut_1", "engine/lags.py", "killed"),
        Mutant("retrodiction.engine.lags.x_f__mutmut_2", "engine/lags.py", "survived"),
    ]


def test_an_equivalent_entry_that_no_longer_holds_is_reported() -> None:
    name = "retrodiction.batches.x_plan_batches__mutmut_28"
    entry = Equivalent(name, "width = max(7, len(str(len(slices) - 1)))", "the width is at least 6 digits anyway")
    survivor = Mutant(name, "batches.py", "survived")
    assert stale_equivalents([entry], [survivor], {name: DIFF}) == []
    assert stale_equivalents([entry], [], {}) == [f"{name}: no such mutant"]
    killed = Mutant(name, "batches.py", "killed")
    assert stale_equivalents([entry], [killed], {name: DIFF}) == [f"{name}: listed as equivalent but killed"]
    # The function changed and mutmut renumbered: the same name now makes another change.
    renumbered = DIFF.replace("max(7,", "max(6,").replace("len(slices) - 1", "len(slices) + 1")
    assert stale_equivalents([entry], [survivor], {name: renumbered}) == [
        f"{name}: no longer writes 'width = max(7, len(str(len(slices) - 1)))'"
    ]


def test_an_equivalent_mutant_needs_a_reason_and_is_listed_once(tmp_path: Path) -> None:
    entry = '[[equivalent]]\nmutant = "m"\nchange = "x"\nreason = "{reason}"\n'
    (tmp_path / "a.toml").write_text(entry.format(reason=" "))
    with pytest.raises(ValueError, match=r"a\.toml: m needs a reason"):
        load_equivalents(tmp_path)
    (tmp_path / "a.toml").write_text(entry.format(reason="same"))
    (tmp_path / "b.toml").write_text(entry.format(reason="same again"))
    with pytest.raises(ValueError, match="listed twice: m"):
        load_equivalents(tmp_path)


def test_the_mutation_targets_name_files_and_tests_that_exist() -> None:
    modules, tests, min_score = load_modules(MUTATION / "targets.toml")
    package = REPO / "operator" / "retrodiction"
    for module, globs in modules.items():
        assert any(list(package.glob(pattern)) for pattern in globs), f"{module} mutates no file"
    assert all((REPO / test).is_file() for test in tests)
    assert min_score >= 0.95


def test_each_equivalent_mutant_belongs_to_a_mutated_module() -> None:
    modules, _, _ = load_modules(MUTATION / "targets.toml")
    for entry in load_equivalents(MUTATION / "equivalent"):
        assert module_of(source_of(entry.mutant), modules), entry.mutant


def test_a_module_without_mutants_or_below_the_target_fails_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    # A run that mutated nothing must not pass as 100%.
    empty = ModuleScore("batches")
    low = ModuleScore("engine", mutants=20, killed=18, survivors=["a", "b"])
    unfinished = ModuleScore("summary", mutants=20, killed=19, unknown=["c"])
    good = ModuleScore("status", mutants=20, killed=19, equivalent=1)
    assert report({row.module: row for row in (empty, low, unfinished, good)}, 0.95) == [
        "batches: no mutants (no file matched, or mutmut did not run)",
        "engine: 90.0% of non-equivalent mutants killed, below 95%",
        "summary: 1 mutants without a verdict (the run did not finish)",
    ]
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["status", "20", "19", "1", "0", "100.0%"] in rows
