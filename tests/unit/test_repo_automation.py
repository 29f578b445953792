"""The repository's automation configs say what they mean: .pre-commit-config.yaml runs commands that exist on files
that exist, and .github/dependabot.yml watches directories holding what each ecosystem reads."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = REPO / ".pre-commit-config.yaml"
DEPENDABOT = REPO / ".github" / "dependabot.yml"
SHA_WITH_RELEASE = re.compile(r"rev: (?P<sha>[0-9a-f]{40}) # v\d+\.\d+\.\d+$", re.MULTILINE)


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return result.stdout.split()


def hooks() -> list[dict[str, Any]]:
    config = yaml.safe_load(PRE_COMMIT.read_text())
    return [hook for repo in config["repos"] if repo["repo"] == "local" for hook in repo["hooks"]]


def test_remote_hook_repositories_are_pinned_to_a_commit_with_its_release() -> None:
    config = yaml.safe_load(PRE_COMMIT.read_text())
    remote = [repo for repo in config["repos"] if repo["repo"] not in ("local", "meta")]
    assert remote
    pinned = {match["sha"] for match in SHA_WITH_RELEASE.finditer(PRE_COMMIT.read_text())}
    assert {repo["rev"] for repo in remote} <= pinned


@pytest.mark.parametrize("hook", hooks(), ids=lambda hook: hook["id"])
def test_each_local_hook_runs_a_command_that_exists(hook: dict[str, Any]) -> None:
    assert hook["language"] == "system"
    command = shlex.split(hook["entry"])
    executable = command[0]
    if executable.startswith("."):
        assert (REPO / executable).is_file(), f"{executable} is missing: run `make install`"
    else:
        assert subprocess.run(["which", executable], capture_output=True, check=False).returncode == 0
    if command[1:2] == ["-m"]:
        assert (REPO / (command[2].replace(".", "/") + ".py")).is_file(), f"no module {command[2]}"
    if executable == "make":
        targets = re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.MULTILINE)
        assert command[1] in targets


@pytest.mark.parametrize("hook", [hook for hook in hooks() if "files" in hook], ids=lambda hook: hook["id"])
def test_each_hooks_file_pattern_matches_a_tracked_file(hook: dict[str, Any]) -> None:
    pattern = re.compile(hook["files"])
    assert any(pattern.search(path) for path in tracked_files()), f"{hook['id']} would never run"


def test_dependabot_watches_directories_holding_what_each_ecosystem_reads() -> None:
    config = yaml.safe_load(DEPENDABOT.read_text())
    assert config["version"] == 2
    readers = {
        "github-actions": lambda folder: list((folder / ".github" / "workflows").glob("*.y*ml")),
        "pip": lambda folder: [*folder.glob("pyproject.toml"), *folder.glob("requirements/*.txt")],
    }
    ecosystems = set()
    for update in config["updates"]:
        ecosystem = update["package-ecosystem"]
        ecosystems.add(ecosystem)
        assert update["schedule"]["interval"] in ("daily", "weekly", "monthly")
        folder = REPO / update["directory"].lstrip("/")
        assert readers[ecosystem](folder), f"{ecosystem} finds nothing in {update['directory']}"
    assert ecosystems == set(readers)
