"""A version's section of CHANGELOG.md (Keep a Changelog 1.1.0): the body of that version's GitHub release.

A section starts at its level-2 heading, `## [0.2.0] - 2026-09-01` (or `## [Unreleased]`), and ends at the next
level-2 heading or at the link definitions that close the file. The headings are found by markdown-it (the parser
`rich` already brings), so a `## ` line inside a code block is not taken for one.

    python -m hack.release.changelog 0.2.0 [--file CHANGELOG.md]   # prints the section's body
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from hack.release.cli import run_command
from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[2]
CHANGELOG = REPO / "CHANGELOG.md"
# `[0.2.0] - 2026-09-01`, `[0.2.0]`, `0.2.0 - 2026-09-01`: the version, bracketed or not, then anything.
HEADING = re.compile(r"\[?(?P<name>[^\]\s]+)\]?(?:\s+-\s+.*)?")
# Reference-style link definitions (`[0.2.0]: https://...`), which Keep a Changelog puts after the last section.
LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s+\S+")


class ChangelogError(LookupError):
    """The changelog has no section for the version, or the section is empty."""


def _level2_headings(text: str) -> list[tuple[str, int, int]]:
    """(heading text, first line, line after the heading) of every `##` heading, in order."""
    tokens = MarkdownIt("commonmark").parse(text)
    headings = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2" and token.map is not None:
            headings.append((tokens[index + 1].content.strip(), token.map[0], token.map[1]))
    return headings


def section(text: str, version: str) -> str:
    """The body of `version`'s section (without its heading), stripped; ChangelogError if it is missing or
    empty, so that no release goes out with blank notes."""
    lines = text.splitlines()
    headings = _level2_headings(text)
    for position, (heading, _, body_start) in enumerate(headings):
        match = HEADING.fullmatch(heading)
        if match is None or match["name"] != version:
            continue
        end = headings[position + 1][1] if position + 1 < len(headings) else len(lines)
        body = [line for line in lines[body_start:end] if not LINK_DEFINITION.match(line)]
        content = "\n".join(body).strip()
        if not content:
            raise ChangelogError(f"the changelog's section for {version} is empty")
        return content
    raise ChangelogError(f"the changelog has no section for {version} (a `## [{version}] - YYYY-MM-DD` heading)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.release.changelog", description=__doc__.splitlines()[0])
    parser.add_argument("version")
    parser.add_argument("--file", type=Path, default=CHANGELOG)
    args = parser.parse_args(argv)

    def show() -> int:
        print(section(args.file.read_text(), args.version))
        return 0

    return run_command("changelog", show, ChangelogError)


if __name__ == "__main__":
    sys.exit(main())
