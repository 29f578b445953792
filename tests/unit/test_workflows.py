"""The GitHub Actions workflows pass actionlint (built from its Go module by `make tools`, hack/tools/build.sh), pin
every action to a commit, and the CI and release workflows do what CONTRIBUTING.md says they do.

No workflow can run on these machines, so this is how they are checked. Without the binary the tests skip, naming
`make tools`, except under CI=true, where that is a failure (`make test` builds it first). actionlint also runs
shellcheck on `run:` scripts when shellcheck is on PATH; it is not required.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrodiction_harness.ci import unavailable

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "hack" / "tools" / "build.sh"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?P<comment>.*)$", re.MULTILINE)
PINNED = re.compile(r"[0-9a-f]{40}")
RELEASE_COMMENT = re.compile(r"\s+# v\d+\.\d+\.\d+$")


def workflow(name: str) -> dict[str | bool, Any]:
    """A workflow's top level: string keys, but for `on`, which YAML 1.1 reads as the boolean True."""
    loaded: dict[str | bool, Any] = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    return loaded


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job["steps"]
    return found


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


@pytest.fixture(scope="module")
def actionlint() -> Path:
    result = subprocess.run(["bash", str(BUILD_SH), "--check"], cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = "actionlint is not built: run `make tools` (bash hack/tools/build.sh: about 20 s cold)"
        unavailable(reason, in_ci_because="the workflows must be linted")
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


def test_every_workflow_file_is_linted() -> None:
    """actionlint reads .yml and .yaml alike; so does the glob above."""
    names = {path.name for path in (REPO / ".github" / "workflows").iterdir() if path.is_file()}
    assert names == {path.name for path in WORKFLOWS}
    assert {"ci.yaml", "release.yaml", "e2e-kind.yaml"} <= names


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_to_a_commit_with_its_release_in_a_comment(workflow: Path) -> None:
    """A tag can be moved to other code; a commit SHA cannot. The comment is what Dependabot updates with it."""
    uses = list(USES.finditer(workflow.read_text()))
    assert uses
    for use in uses:
        assert PINNED.fullmatch(use["ref"]), f"{use['action']}@{use['ref']} is not a commit SHA"
        assert RELEASE_COMMENT.fullmatch(use["comment"]), f"{use['action']}: no `# vX.Y.Z` comment"


def test_ci_runs_lint_types_unit_and_integration_through_the_makefile() -> None:
    jobs = workflow("ci.yaml")["jobs"]
    commands = "\n".join(runs(job) for job in jobs.values())
    makefile = (REPO / "Makefile").read_text()
    for target in ("lint", "typecheck", "unit", "integration", "tools"):
        assert f"make {target}" in commands
        assert re.search(rf"^{target}:", makefile, re.MULTILINE)
    on = workflow("ci.yaml")[True]  # YAML 1.1 reads the key `on` as a boolean
    assert on["push"]["branches"] == ["main"]
    assert "pull_request" in on


def test_the_release_runs_on_version_tags_and_refuses_a_tag_that_is_not_the_version() -> None:
    release = workflow("release.yaml")
    assert release[True]["push"]["tags"] == ["v*"]
    assert release["permissions"] == {"contents": "read"}
    check = release["jobs"]["check"]
    assert 'hack.release.version check --tag "$GITHUB_REF_NAME"' in runs(check)
    for name, job in release["jobs"].items():
        if name != "check":
            assert "check" in job["needs"], f"{name} runs before the tag is checked"


def test_the_release_pushes_attested_multi_arch_images_and_signs_them_by_digest() -> None:
    images = workflow("release.yaml")["jobs"]["images"]
    assert images["strategy"]["matrix"]["target"] == ["operator", "worker"]
    assert images["permissions"]["id-token"] == "write"
    (build,) = [step for step in steps(images) if step.get("uses", "").startswith("docker/build-push-action@")]
    assert build["with"]["push"] is True
    assert build["with"]["sbom"] is True
    assert build["with"]["provenance"] == "mode=max"
    assert "steps.plan.outputs.platforms" in build["with"]["platforms"]
    (sign,) = [step for step in steps(images) if "cosign sign" in step.get("run", "")]
    assert sign["env"]["DIGEST"] == f"${{{{ steps.{build['id']}.outputs.digest }}}}"
    assert '@$DIGEST"' in sign["run"]


def test_the_release_pushes_and_signs_the_chart_and_publishes_the_changelog_section() -> None:
    job = workflow("release.yaml")["jobs"]["chart-and-release"]
    assert job["needs"] == ["check", "images"], "the chart is published after the images it pulls"
    commands = runs(job)
    assert "helm dependency build" in commands
    assert "hack.release.chart package" in commands
    assert "hack.release.chart push" in commands
    assert 'cosign sign --yes "$REFERENCE"' in commands
    assert "hack.release.changelog" in commands
    assert "--notes-file" in commands


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
