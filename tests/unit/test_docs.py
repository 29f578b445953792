"""The documentation holds together: every relative link in README.md and docs/ leads to a file (and to a heading,
when it names one), README still states the command CI runs, and no tracked file cites a file outside the
repository, which a reader of a clone could not open."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Inline links and images: [text](target) or ![alt](target "title"). Reference-style links are not used here.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def markdown_files(root: Path = REPO) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced blocks and inline code, where brackets and parentheses are code, not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lower-cased, punctuation dropped, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file: one per heading, repeated headings numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> Iterator[str]:
    for target in LINK.findall(_prose(path.read_text())):
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.IGNORECASE):  # http:, https:, mailto: ...
            yield target


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """The relative links of `path` that name no file inside `root`, or no heading of the file they name."""
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if root.resolve() not in (destination, *destination.parents) or not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading with that anchor in {destination.relative_to(root.resolve())}")
    return broken


@pytest.mark.parametrize("document", markdown_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(document: Path) -> None:
    assert broken_links(document) == []


def test_a_link_to_a_missing_file_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n\n## Two words\n\n## Two words\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](guide.md#two-words) [second](guide.md#two-words-1) [self](#top) [web](https://example.com/x)\n"
        "[gone](missing.md) [no heading](guide.md#three-words) [outside](../elsewhere.md)\n"
        "`[in code](missing.md)`\n\n# Top\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "missing.md: no such file",
        "guide.md#three-words: no heading with that anchor in guide.md",
        "../elsewhere.md: no such file",
    ]


def test_headings_anchor_as_github_anchors_them() -> None:
    assert slug("Scope and RBAC") == "scope-and-rbac"
    assert slug("Running the operator without the chart") == "running-the-operator-without-the-chart"
    assert slug("GitOps and Argo CD") == "gitops-and-argo-cd"
    assert slug("`make test`: what CI runs") == "make-test-what-ci-runs"
    assert slug("Reference: the summary document") == "reference-the-summary-document"


def test_readme_states_the_command_ci_runs() -> None:
    """CI runs .ci/run; README's quick start must show the same command, so people run what CI runs."""
    ci_commands = re.findall(r"^\s*(make \S+)\s*$", (REPO / ".ci" / "run").read_text(), flags=re.MULTILINE)
    assert ci_commands == ["make test"]
    readme_blocks = "\n".join(re.findall(r"^```sh\n(.*?)^```", (REPO / "README.md").read_text(), re.M | re.S))
    for command in ci_commands:
        assert re.search(rf"^{re.escape(command)}\b", readme_blocks, flags=re.MULTILINE), command
    assert "bash .ci/run" in (REPO / "README.md").read_text()


# Files of the project's origin that live outside this repository. Spelt in parts so that this file does not cite
# them itself.
OUTSIDE = tuple(
    "".join(parts)
    for parts in (
        ("DESIGN", ".md"),
        ("ANCHORS", ".md"),
        ("FIELD", "-NOTES", ".md"),
        ("FIELD", "_NOTES"),
        ("see", "d/"),
        ("..", "/shared"),
        ("/work", "/shared"),
    )
)


def tracked_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    return [name for name in result.stdout.split("\0") if name]


def test_no_tracked_file_cites_a_file_outside_the_repository() -> None:
    citing = []
    for name in tracked_files():
        path = REPO / name
        if not path.is_file():
            continue  # deleted in the work tree, not yet in the index
        text = path.read_bytes().decode("utf-8", errors="ignore")
        citing += [f"{name}: {outside}" for outside in OUTSIDE if outside in text]
    assert citing == [], "cite a file in the repository instead (e.g. docs/architecture.md)"
