"""The Helm chart as a release artifact: linted, packaged at the source version, pushed to an OCI registry.

`package` needs the chart's dependency under charts/ (the release workflow runs `helm dependency build`, which
checks Chart.lock; the tests copy the chart out of the dask-kubernetes wheel instead, having no network). The chart
is pushed beside the images, to `oci://<the images' registry namespace>/charts`, so that
`helm install oci://ghcr.io/retrodiction/charts/retrodiction-operator --version X` pulls images of the same release.

    python -m hack.release.chart package --out dist [--chart DIR] [--helm PATH]
    python -m hack.release.chart push dist/retrodiction-operator-0.2.0.tgz [--helm PATH]   # prints it by digest
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml
from hack.release.cli import run_command
from hack.release.images import default_repository
from hack.release.version import CHART_YAML, REPO, current

CHART = REPO / CHART_YAML.parent
DIGEST = re.compile(r"^Digest: (sha256:[0-9a-f]{64})$", re.MULTILINE)


class ChartError(RuntimeError):
    """helm failed, or the package is not what the release must publish."""


def _helm(helm: str, *args: str) -> str:
    result = subprocess.run([helm, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ChartError(f"helm {' '.join(args)}: exit {result.returncode}\n{result.stderr.strip()}")
    return result.stdout + result.stderr


def oci_repository(repo: Path = REPO) -> str:
    """Where the chart is pushed: `charts` under the namespace the operator image is pushed to."""
    namespace = default_repository("operator", repo).rsplit("/", 1)[0]
    return f"oci://{namespace}/charts"


def packaged_metadata(package: Path) -> tuple[dict[str, Any], list[str]]:
    """The Chart.yaml inside a packaged chart, and the names of the dependency charts it carries."""
    with tarfile.open(package) as archive:
        names = archive.getnames()
        root = names[0].split("/", 1)[0]
        member = archive.extractfile(f"{root}/Chart.yaml")
        if member is None:
            raise ChartError(f"{package} holds no {root}/Chart.yaml")
        metadata: dict[str, Any] = yaml.safe_load(member.read())
    dependencies = sorted({name.split("/")[2] for name in names if name.startswith(f"{root}/charts/")})
    return metadata, dependencies


def package(out: Path, chart: Path = CHART, helm: str = "helm", repo: Path = REPO) -> Path:
    """`helm lint` and `helm package` of `chart`, refused unless its Chart.yaml carries the source version; the
    package is checked to hold that version and every dependency Chart.yaml names."""
    version = current(repo)
    metadata = yaml.safe_load((chart / "Chart.yaml").read_text())
    for key in ("version", "appVersion"):
        if str(metadata[key]) != version:
            raise ChartError(f"{chart}/Chart.yaml {key} is {metadata[key]!r}, not {version!r}: stamp it first")
    _helm(helm, "lint", str(chart))
    out.mkdir(parents=True, exist_ok=True)
    _helm(helm, "package", str(chart), "--destination", str(out))
    result = out / f"{metadata['name']}-{version}.tgz"
    if not result.is_file():
        raise ChartError(f"helm package wrote no {result.name} into {out}")
    packaged, dependencies = packaged_metadata(result)
    wanted = sorted(dependency["name"] for dependency in metadata.get("dependencies", []))
    if (packaged["version"], packaged["appVersion"], dependencies) != (version, version, wanted):
        raise ChartError(f"{result.name} holds version {packaged['version']}, appVersion {packaged['appVersion']}, "
                         f"dependencies {dependencies}; expected {version}, {version}, {wanted}")  # fmt: skip
    return result


def push(package_file: Path, helm: str = "helm", repo: Path = REPO) -> str:
    """`helm push` to the release's OCI repository (after `helm registry login`); the pushed chart by digest,
    `ghcr.io/<owner>/charts/<name>@sha256:...`, the reference the workflow signs."""
    output = _helm(helm, "push", str(package_file), oci_repository(repo))
    found = DIGEST.search(output)
    if found is None:
        raise ChartError(f"helm push printed no digest:\n{output}")
    name = packaged_metadata(package_file)[0]["name"]
    return f"{oci_repository(repo).removeprefix('oci://')}/{name}@{found[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.release.chart", description=__doc__.splitlines()[0])
    parser.add_argument("--helm", default="helm")
    commands = parser.add_subparsers(dest="command", required=True)
    packaging = commands.add_parser("package")
    packaging.add_argument("--out", type=Path, required=True)
    packaging.add_argument("--chart", type=Path, default=CHART)
    pushing = commands.add_parser("push")
    pushing.add_argument("package", type=Path)
    args = parser.parse_args(argv)

    def act() -> int:
        print(package(args.out, args.chart, args.helm) if args.command == "package" else push(args.package, args.helm))
        return 0

    return run_command("chart", act, ChartError)


if __name__ == "__main__":
    sys.exit(main())
