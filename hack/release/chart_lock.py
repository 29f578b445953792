"""Chart.lock for the chart's dependencies, written as `helm dependency update` writes it, without the network.

helm's lock pins each dependency (name, repository, resolved version) and carries a digest that is NOT a hash of
the dependency chart: `helm dependency update` computes it with resolver.HashReq (helm.sh/helm/v3
internal/resolver/resolver.go), the SHA-256 of Go's json.Marshal of the pair [Chart.yaml's dependencies, the lock's
dependencies], and `helm dependency build` refuses a lock whose digest does not match its Chart.yaml ("the lock file
(Chart.lock) is out of sync"). Each list entry is a chart.Dependency (pkg/chart/dependency.go) serialized in its
field order, with its omitempty fields left out when empty.

Only exact versions are locked here: resolving a range needs the repository's index, which only helm, online,
can read (a range in Chart.yaml is refused; run `helm dependency update` then).

    python -m hack.release.chart_lock [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hack.release.version import CHART_YAML, REPO, VERSION_PATTERN

# chart.Dependency's JSON fields in declaration order, and whether each is `omitempty`.
DEPENDENCY_FIELDS = (
    ("name", False),
    ("version", True),
    ("repository", False),
    ("condition", True),
    ("tags", True),
    ("enabled", True),
    ("import-values", True),
    ("alias", True),
)


def _go_dependency(dependency: Mapping[str, Any]) -> dict[str, Any]:
    """A dependency as Go's json.Marshal writes a chart.Dependency: known fields in order, empty omitempty ones
    dropped, strings defaulting to ""."""
    out: dict[str, Any] = {}
    for field, omitempty in DEPENDENCY_FIELDS:
        value = dependency.get(field)
        if omitempty and not value:
            continue
        out[field] = "" if value is None else value
    return out


def _go_json(value: Any) -> str:
    """json.Marshal's bytes: compact, UTF-8, map keys sorted, and <, >, & and U+2028/9 escaped as Go escapes them."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escape)
    return text


def helm_digest(requirements: Sequence[Mapping[str, Any]], locked: Sequence[Mapping[str, Any]]) -> str:
    """resolver.HashReq(requirements, locked): `sha256:` and the hex SHA-256 of the JSON pair."""
    pair = [[_go_dependency(d) for d in requirements], [_go_dependency(d) for d in locked]]
    return "sha256:" + hashlib.sha256(_go_json(pair).encode()).hexdigest()


def locked_dependencies(requirements: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """What the resolver locks for exact versions: name, repository and the version itself."""
    locked = []
    for dependency in requirements:
        version = str(dependency["version"])
        if not VERSION_PATTERN.fullmatch(version):
            raise ValueError(f"{dependency['name']}: {version!r} is not an exact version; use `helm dependency update`")
        locked.append({"name": dependency["name"], "repository": dependency.get("repository", ""), "version": version})
    return locked


def lock_text(chart_yaml: Path, generated: datetime) -> str:
    """Chart.lock's text for `chart_yaml`, laid out as helm writes it (keys sorted, RFC 3339 `generated`)."""
    requirements = yaml.safe_load(chart_yaml.read_text()).get("dependencies", [])
    locked = locked_dependencies(requirements)
    lines = ["dependencies:"]
    for dependency in locked:
        lines += [f"- name: {dependency['name']}", f"  repository: {dependency['repository']}"]
        lines += [f"  version: {dependency['version']}"]
    lines += [
        f"digest: {helm_digest(requirements, locked)}",
        f'generated: "{generated.isoformat().replace("+00:00", "Z")}"',
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.release.chart_lock", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when Chart.lock does not match Chart.yaml")
    args = parser.parse_args(argv)
    chart_yaml = REPO / CHART_YAML
    lock_file = chart_yaml.with_name("Chart.lock")
    if args.check:
        lock = yaml.safe_load(lock_file.read_text())
        requirements = yaml.safe_load(chart_yaml.read_text()).get("dependencies", [])
        if lock["digest"] != helm_digest(requirements, lock["dependencies"]):
            print(f"chart_lock: {lock_file} is out of sync with {chart_yaml}", file=sys.stderr)
            return 1
        return 0
    lock_file.write_text(lock_text(chart_yaml, datetime.now(UTC).replace(microsecond=0)))
    print(lock_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
