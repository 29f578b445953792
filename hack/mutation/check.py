"""Whether some tests kill some mutants, in seconds rather than a whole `make mutation` run.

    python -m hack.mutation.check MUTANT [MUTANT...] -- tests/unit/test_batches.py [pytest args]

Runs the tests, as they are now in tests/, against each mutant of the last staged run (build/mutation, or
`--stage build/mutation-batches` after `make mutation ARGS="--module batches"`): mutmut's mutated package picks the
mutant named by MUTANT_UNDER_TEST. A source change since that run needs a new run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.mutation.check", usage=__doc__)
    parser.add_argument("--stage", type=Path, default=REPO / "build" / "mutation")
    parser.add_argument("mutants", nargs="+")
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        parser.error("name the tests after --")
    split = argv.index("--")
    args, pytest_args = parser.parse_args(argv[:split]), argv[split + 1 :]
    mutants_dir = (args.stage / "mutants").resolve()
    if not (mutants_dir / "src").is_dir():
        parser.error(f"{mutants_dir} holds no mutated package: run `make mutation` first")
    # The test files named, copied over the stage's older copies (the conftest files and helpers too).
    for path in [p for p in pytest_args if p.startswith("tests/")] + ["tests/conftest.py"]:
        source = REPO / path.split("::")[0]
        if source.is_file():
            shutil.copy2(source, mutants_dir / source.relative_to(REPO))
    survivors = 0
    for mutant in args.mutants:
        env = os.environ | {"MUTANT_UNDER_TEST": mutant, "PYTHONPATH": "src"}
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", "--no-header", *pytest_args]
        result = subprocess.run(command, check=False, cwd=mutants_dir, env=env, capture_output=True, text=True)
        verdict = {0: "SURVIVED", 1: "killed"}.get(result.returncode, f"error (pytest exit {result.returncode})")
        survivors += result.returncode != 1
        print(f"{verdict:<10} {mutant}")
        if result.returncode not in (0, 1):
            print(result.stdout[-2000:] + result.stderr[-2000:])
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
