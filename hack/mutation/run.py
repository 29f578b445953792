"""`make mutation` (python -m hack.mutation.run): mutmut over the pure modules of hack/mutation/targets.toml.

mutmut names a mutant after the module path of its file relative to the directory it runs in, and only finds
sources in `./`, `src/` or `source/`; our package lives in `operator/retrodiction` (and `operator` is a standard
library module), so the run happens in a staging copy, build/mutation/, with the package under `src/`. Prints one
score per module, writes every survivor's diff to build/mutation/survivors.txt, and exits 1 when a module scores
below the target or hack/mutation/equivalent.toml lists a mutant that is no longer equivalent.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
)

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUILD = REPO / "build"
# Files the selected tests read from the repository besides the package and the tests.
ALSO_COPY = ["docs/argocd"]
PROGRESS = re.compile(r"(\d+)/(\d+) ")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def stage_dir(selected: list[str]) -> Path:
    """build/mutation for the whole run; a run of some modules stages apart, so several can run side by side."""
    return BUILD / ("mutation" if not selected else "mutation-" + "-".join(sorted(selected)))


def stage(modules: dict[str, list[str]], tests: list[str], stage: Path) -> None:
    """A fresh staging copy: mutmut keeps its own results in mutants/, which must not outlive a source change."""
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(REPO / "operator" / "retrodiction", stage / "src" / "retrodiction", ignore=IGNORED)
    shutil.copytree(REPO / "tests", stage / "tests", ignore=IGNORED)
    for extra in ALSO_COPY:
        shutil.copytree(REPO / extra, stage / extra, ignore=IGNORED)
    only = [f"src/retrodiction/{pattern}" for globs in modules.values() for pattern in globs]
    settings = "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["src/retrodiction"]',
            f"only_mutate = {toml_list(only)}",
            f"also_copy = {toml_list(ALSO_COPY)}",
            f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]',
            "",
        ]
    )
    (stage / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text() + settings)


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def run_mutmut(workers: int, stage: Path) -> None:
    log = stage / "mutmut.log"
    mutmut = Path(sys.executable).parent / "mutmut"
    command = [str(mutmut), "run", "--max-children", str(workers)]
    # mutmut redraws a spinner per mutant: its output goes to the log, and the terminal gets a line of progress
    # every half minute.
    with (
        log.open("wb") as out,
        subprocess.Popen(command, cwd=stage, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as run,
    ):
        assert run.stdout is not None
        shown = time.monotonic()
        while chunk := os.read(run.stdout.fileno(), 65536):
            out.write(chunk)
            progress = PROGRESS.findall(chunk.decode(errors="replace"))
            if progress and time.monotonic() - shown > 30:
                shown = time.monotonic()
                print(f"mutation: {progress[-1][0]} of {progress[-1][1]} mutants tested", flush=True)
    if run.returncode != 0:
        raise SystemExit(f"mutation: mutmut failed (exit {run.returncode}); its log: {log}")


def mutant_diffs(mutants: list[Mutant], names: set[str], stage: Path) -> dict[str, str]:
    """The diff of each named mutant, read in-process (`mutmut show` costs a second of start-up per mutant)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    cwd = Path.cwd()
    os.chdir(stage)
    try:
        return {
            m.name: get_diff_for_mutant(m.name, path=f"src/retrodiction/{m.source}") for m in mutants if m.name in names
        }
    finally:
        os.chdir(cwd)


def report(table: dict[str, ModuleScore], min_score: float) -> list[str]:
    print(f"{'module':<16}{'mutants':>9}{'killed':>9}{'equivalent':>12}{'survived':>10}{'score':>9}")
    failures = []
    for row in table.values():
        left = len(row.survivors) + len(row.unknown)
        print(f"{row.module:<16}{row.mutants:>9}{row.killed:>9}{row.equivalent:>12}{left:>10}{row.score:>9.1%}")
        if not row.mutants:
            failures.append(f"{row.module}: no mutants (no file matched, or mutmut did not run)")
        if row.unknown:
            failures.append(f"{row.module}: {len(row.unknown)} mutants without a verdict (the run did not finish)")
        if row.score < min_score:
            failures.append(f"{row.module}: {row.score:.1%} of non-equivalent mutants killed, below {min_score:.0%}")
    return failures


def write_survivors(table: dict[str, ModuleScore], diffs: dict[str, str], path: Path) -> None:
    sections = [f"## {row.module}: {name}\n{diffs.get(name, '')}\n" for row in table.values() for name in row.survivors]
    path.write_text("\n".join(sections) or "no survivors\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="mutants tested at once")
    parser.add_argument("--report-only", action="store_true", help="score the last run again")
    parser.add_argument("--module", action="append", default=[], help="only this module of targets.toml (repeatable)")
    args = parser.parse_args(argv)
    modules, tests, min_score = load_modules(HERE / "targets.toml")
    unknown = sorted(set(args.module) - set(modules))
    if unknown:
        parser.error(f"no such module: {', '.join(unknown)} (targets.toml has {', '.join(modules)})")
    if args.module:
        modules = {name: globs for name, globs in modules.items() if name in args.module}
    equivalents: list[Equivalent] = load_equivalents(HERE / "equivalent")
    here = stage_dir(args.module)
    started = time.monotonic()
    if not args.report_only:
        stage(modules, tests, here)
        run_mutmut(args.workers, here)
    package = here / "mutants" / "src" / "retrodiction"
    if not package.is_dir():
        parser.error(f"{package} does not exist: run without --report-only first")
    mutants = read_mutants(package)
    table = scores(mutants, modules, equivalents)
    wanted = {e.mutant for e in equivalents} | {name for row in table.values() for name in row.survivors}
    diffs = mutant_diffs(mutants, wanted, here)
    write_survivors(table, diffs, here / "survivors.txt")
    failures = report(table, min_score)
    counted = [e for e in equivalents if module_of(source_of(e.mutant), modules)]
    failures += [f"equivalent: {problem}" for problem in stale_equivalents(counted, mutants, diffs)]
    print(f"survivors' diffs: {here / 'survivors.txt'}; {time.monotonic() - started:.0f} s")
    for failure in failures:
        print(f"mutation: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
