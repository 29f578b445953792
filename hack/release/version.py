"""The project's one version, pyproject.toml's `[project] version`, and every place it is stamped into.

Why pyproject.toml: it is the version the wheel is built with (the images install that wheel), and at run time the
package reads it back from the installed metadata (`retrodiction.__version__`, `retrodiction --version`, the
operator's default worker image), so the Python side has nothing to stamp. The chart cannot read it: Chart.yaml's
`version` and `appVersion` are written by `stamp` (the chart's default image tags follow appVersion), and the images'
OCI version label is the `VERSION` build argument the release workflow takes from `current`.

Versions are MAJOR.MINOR.PATCH only: PEP 440 (the wheel) and SemVer 2 (the chart, the image tags) spell
pre-releases differently (1.0.0rc1 against 1.0.0-rc.1), and one string must mean the same release everywhere.

    python -m hack.release.version                 # prints the version
    python -m hack.release.version check [--tag v0.2.0]
    python -m hack.release.version stamp 0.2.0     # then `make install` refreshes the installed metadata
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml
from hack.release.cli import run_command

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = Path("pyproject.toml")
CHART_YAML = Path("charts/retrodiction-operator/Chart.yaml")
VERSION_PATTERN = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


class VersionError(ValueError):
    """A version that is not MAJOR.MINOR.PATCH, a tag that does not name the source version, or a file that
    cannot be stamped."""


@dataclass(frozen=True)
class Place:
    """One place the version is written: a file, the key it is written under, and the line that holds it (the
    files are edited a line at a time so that their comments and layout survive a stamp)."""

    path: Path
    key: str
    line: re.Pattern[str]

    def read(self, repo: Path) -> str:
        text = (repo / self.path).read_text()
        if self.path.suffix == ".toml":
            value = tomllib.loads(text)["project"]["version"]
        else:
            value = yaml.safe_load(text)[self.key]
        return str(value)

    def write(self, repo: Path, version: str) -> None:
        file = repo / self.path
        text, count = self.line.subn(lambda match: f"{match['head']}{version}{match['tail']}", file.read_text())
        if count != 1:
            raise VersionError(f"{self.path}: expected one line holding {self.key}, found {count}")
        file.write_text(text)


# Anchored at the start of a line: pyproject.toml has one bare `version =` key (others are `target-version`...),
# and Chart.yaml's own keys start at column 0 while its dependencies' versions are indented.
PLACES = (
    Place(PYPROJECT, "version", re.compile(r'^(?P<head>version = ")[^"]*(?P<tail>")$', re.MULTILINE)),
    Place(CHART_YAML, "version", re.compile(r"^(?P<head>version: )\S+(?P<tail>.*)$", re.MULTILINE)),
    Place(CHART_YAML, "appVersion", re.compile(r'^(?P<head>appVersion: ")[^"]*(?P<tail>".*)$', re.MULTILINE)),
)
SOURCE = PLACES[0]


def validated(version: str) -> str:
    if not VERSION_PATTERN.fullmatch(version):
        raise VersionError(f"{version!r} is not MAJOR.MINOR.PATCH (e.g. 0.2.0)")
    return version


def current(repo: Path = REPO) -> str:
    """The source version: pyproject.toml's."""
    return validated(SOURCE.read(repo))


def stamped(repo: Path = REPO) -> dict[str, str]:
    """What each place holds, by `file:key`."""
    return {f"{place.path}:{place.key}": place.read(repo) for place in PLACES}


def disagreements(repo: Path = REPO) -> list[str]:
    """One line per place whose version is not the source's."""
    version = current(repo)
    return [f"{name} is {value!r}, not {version!r}" for name, value in stamped(repo).items() if value != version]


def version_of_tag(tag: str) -> str:
    """`v0.2.0` -> `0.2.0`; anything else is refused."""
    if not tag.startswith("v"):
        raise VersionError(f"tag {tag!r} does not start with 'v'")
    return validated(tag.removeprefix("v"))


def stamp(version: str, repo: Path = REPO) -> None:
    """Write `version` into every place, the source first."""
    validated(version)
    for place in PLACES:
        place.write(repo, version)
    left = disagreements(repo)
    if left:
        raise VersionError("stamped, yet " + "; ".join(left))


def check(repo: Path = REPO, tag: str | None = None) -> list[str]:
    """Every problem found: places that disagree with the source, and a tag that names another version."""
    problems = disagreements(repo)
    if tag is not None:
        try:
            if version_of_tag(tag) != current(repo):
                problems.append(f"tag {tag!r} is not v{current(repo)} (pyproject.toml's version)")
        except VersionError as error:
            problems.append(str(error))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.release.version", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    checking = commands.add_parser("check", help="fail when a place (or --tag) disagrees with pyproject.toml")
    checking.add_argument("--tag", help="a git tag that must be v<version>")
    stamping = commands.add_parser("stamp", help="write a new version into every place")
    stamping.add_argument("version")
    args = parser.parse_args(argv)

    def act() -> int:
        if args.command == "check":
            problems = check(tag=args.tag)
            for problem in problems:
                print(f"version: {problem}", file=sys.stderr)
            return 1 if problems else 0
        if args.command == "stamp":
            stamp(args.version)
            print(f"stamped {args.version} into {', '.join(stamped())}; run `make install` to refresh the package")
            return 0
        print(current())
        return 0

    return run_command("version", act, VersionError)


if __name__ == "__main__":
    sys.exit(main())
