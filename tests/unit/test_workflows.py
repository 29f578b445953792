"""The GitHub Actions workflows pass actionlint (built from its Go module by `make tools`, hack/tools/build.sh).

No workflow can run on these machines, so this is how they are checked. Without the binary the tests skip, naming
`make tools`, except under CI=true, where that is a failure (`make test` builds it first). actionlint also runs
shellcheck on `run:` scripts when shellcheck is on PATH; it is not required.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness.cluster import in_ci

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "hack" / "tools" / "build.sh"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))


@pytest.fixture(scope="module")
def actionlint() -> Path:
    result = subprocess.run(["bash", str(BUILD_SH), "--check"], cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = "actionlint is not built: run `make tools` (bash hack/tools/build.sh: about 20 s cold)"
        if in_ci():
            pytest.fail(f"{reason} (CI is set: the workflows must be linted)", pytrace=False)
        pytest.skip(reason)
    return Path(result.stdout.strip().splitlines()[-1]) / "actionlint"


def run(actionlint: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(actionlint), "-no-color", *map(str, files)], cwd=REPO, capture_output=True, text=True, check=False
    )


def test_there_are_workflows() -> None:
    assert WORKFLOWS, "no workflow under .github/workflows"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_actionlint_passes(actionlint: Path, workflow: Path) -> None:
    result = run(actionlint, workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_fail_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    """The check above is not vacuous: the same binary rejects an undefined expression and an unknown input."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/setup-python@v5\n"
        "        with:\n"
        "          python-versions: '3.11'\n"
        "      - run: echo ${{ matrix.missing }}\n"
    )
    result = run(actionlint, broken)
    assert result.returncode != 0
    assert "python-versions" in result.stdout
    assert "matrix" in result.stdout
