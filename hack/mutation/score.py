"""Scores of a mutmut run: each mutant's verdict, grouped by module, with the mutants known to be equivalent set
aside. Pure functions over mutmut's result files, so the arithmetic is unit-tested without running mutmut."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py). A timeout, a crash or a type-check rejection means the mutant was detected;
# "no tests" (no selected test ran the mutated function) is a survivor: nothing pins that code down.
KILLED_CODES = frozenset({1, 3, 36, 37, 24, -24, 152, 255, -9, -11})
SURVIVED_CODES = frozenset({0, 5, 33})


def verdict(exit_code: int | None) -> str:
    if exit_code in KILLED_CODES:
        return "killed"
    if exit_code in SURVIVED_CODES:
        return "survived"
    # Not run (None), skipped or suspicious: the run is incomplete, never a pass.
    return "unknown"


@dataclass(frozen=True)
class Mutant:
    name: str
    source: str  # path under operator/retrodiction/, e.g. "engine/scores.py"
    verdict: str


@dataclass(frozen=True)
class Equivalent:
    """A mutant that changes no behaviour, with the line it writes (to notice when the name points elsewhere after
    the source changed) and why no test can tell it apart."""

    mutant: str
    change: str
    reason: str


@dataclass
class ModuleScore:
    module: str
    mutants: int = 0
    killed: int = 0
    equivalent: int = 0
    survivors: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Killed over non-equivalent mutants; a module with none scores 1."""
        counted = self.mutants - self.equivalent
        return self.killed / counted if counted else 1.0


def load_modules(targets: Path) -> tuple[dict[str, list[str]], list[str], float]:
    document = tomllib.loads(targets.read_text())
    modules = {name: list(globs) for name, globs in document["modules"].items()}
    return modules, list(document["run"]["tests"]), float(document["run"]["min_score"])


def load_equivalents(folder: Path) -> list[Equivalent]:
    """The `[[equivalent]]` entries of every .toml file in `folder` (one file per module)."""
    equivalents = []
    for path in sorted(folder.glob("*.toml")):
        for entry in tomllib.loads(path.read_text()).get("equivalent", []):
            equivalent = Equivalent(entry["mutant"], entry["change"].strip(), entry["reason"].strip())
            if not equivalent.reason:
                raise ValueError(f"{path.name}: {equivalent.mutant} needs a reason")
            equivalents.append(equivalent)
    names = [e.mutant for e in equivalents]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{folder}: listed twice: {', '.join(duplicates)}")
    return equivalents


def source_of(mutant: str) -> str:
    """The file a mutant's name points at: `retrodiction.engine.lags.xǁLaggedRowsǁat__mutmut_2` -> engine/lags.py."""
    module = mutant.rsplit(".", 1)[0].removeprefix("retrodiction.")
    return module.replace(".", "/") + ".py"


def module_of(source: str, modules: Mapping[str, list[str]]) -> str | None:
    for module, globs in modules.items():
        if any(fnmatch.fnmatch(source, pattern) for pattern in globs):
            return module
    return None


def read_mutants(package: Path) -> list[Mutant]:
    """Every mutant of the mutated copy of the package (`mutants/src/retrodiction`), from mutmut's .meta files."""
    mutants: list[Mutant] = []
    for meta in sorted(package.rglob("*.py.meta")):
        source = meta.relative_to(package).as_posix().removesuffix(".meta")
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        mutants.extend(Mutant(name, source, verdict(code)) for name, code in codes.items())
    return mutants


def scores(
    mutants: Iterable[Mutant], modules: Mapping[str, list[str]], equivalents: Iterable[Equivalent]
) -> dict[str, ModuleScore]:
    equivalent_names = {e.mutant for e in equivalents}
    table = {module: ModuleScore(module) for module in modules}
    for mutant in mutants:
        module = module_of(mutant.source, modules)
        if module is None:
            continue
        row = table[module]
        row.mutants += 1
        if mutant.verdict == "killed":
            row.killed += 1
        elif mutant.name in equivalent_names:
            row.equivalent += 1
        elif mutant.verdict == "survived":
            row.survivors.append(mutant.name)
        else:
            row.unknown.append(mutant.name)
    return table


def stale_equivalents(
    equivalents: Iterable[Equivalent], mutants: Iterable[Mutant], diffs: Mapping[str, str]
) -> list[str]:
    """Entries that no longer describe an equivalent mutant: gone, killed, or renumbered so that the mutant of that
    name now makes another change (its diff no longer adds the recorded line)."""
    by_name = {m.name: m for m in mutants}
    problems = []
    for entry in equivalents:
        mutant = by_name.get(entry.mutant)
        if mutant is None:
            problems.append(f"{entry.mutant}: no such mutant")
        elif mutant.verdict == "killed":
            problems.append(f"{entry.mutant}: listed as equivalent but killed")
        elif entry.change not in added_lines(diffs.get(entry.mutant, "")):
            problems.append(f"{entry.mutant}: no longer writes {entry.change!r}")
    return problems


def added_lines(diff: str) -> list[str]:
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
