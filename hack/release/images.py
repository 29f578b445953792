"""What the release builds of worker_image/Dockerfile are given: per target, the image it is pushed as and the build
arguments. The images are pushed to the repositories the chart pulls by default (values.yaml `image` and
`workerImage`), tagged with the version, so a default `helm install` of the released chart finds them.

    python -m hack.release.images --target operator --revision SHA --source URL   # GITHUB_OUTPUT lines
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from hack.release.version import CHART_YAML, REPO, current

DOCKERFILE = Path("worker_image/Dockerfile")
PLATFORMS = ("linux/amd64", "linux/arm64")
# Dockerfile target -> the values.yaml key of the image the chart runs from it.
TARGETS = {"operator": "image", "worker": "workerImage"}


@dataclass(frozen=True)
class ImageBuild:
    target: str
    repository: str
    version: str
    build_args: dict[str, str]

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.version}"

    def github_output(self) -> str:
        """The step outputs docker/build-push-action takes (multi-line values in GitHub's heredoc form)."""
        args = "\n".join(f"{name}={value}" for name, value in self.build_args.items())
        return (
            f"target={self.target}\nimage={self.reference}\nrepository={self.repository}\n"
            f"dockerfile={DOCKERFILE}\nplatforms={','.join(PLATFORMS)}\n"
            f"build-args<<BUILD_ARGS\n{args}\nBUILD_ARGS\n"
        )


def default_repository(target: str, repo: Path = REPO) -> str:
    """The repository the chart's values.yaml pulls `target`'s image from."""
    values = yaml.safe_load((repo / CHART_YAML).with_name("values.yaml").read_text())
    repository: str = values[TARGETS[target]]["repository"]
    return repository


def image_build(target: str, revision: str, source: str, repo: Path = REPO) -> ImageBuild:
    """The build of `target` at the source version; VERSION becomes the image's OCI version label."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
    version = current(repo)
    args = {"VERSION": version, "REVISION": revision, "SOURCE": source}
    return ImageBuild(target, default_repository(target, repo), version, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.release.images", description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, choices=sorted(TARGETS))
    parser.add_argument("--revision", required=True, help="the commit the images are built from")
    parser.add_argument("--source", required=True, help="the repository's URL (the OCI source label)")
    args = parser.parse_args(argv)
    sys.stdout.write(image_build(args.target, args.revision, args.source).github_output())
    return 0


if __name__ == "__main__":
    sys.exit(main())
