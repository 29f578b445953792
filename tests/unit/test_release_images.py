"""What the release's image builds are given (hack/release/images.py): pushed where the chart pulls from, tagged
and labelled with the source version, for both architectures."""

from __future__ import annotations

import pytest
import yaml
from hack.release.images import DOCKERFILE, TARGETS, image_build
from hack.release.version import CHART_YAML, REPO, current

VALUES = yaml.safe_load((REPO / CHART_YAML).with_name("values.yaml").read_text())


def parse_github_output(text: str) -> dict[str, str]:
    """GitHub's step-output file format: `name=value` lines and `name<<DELIMITER` ... `DELIMITER` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, heredoc, delimiter = line.partition("<<")
        if heredoc and "=" not in name:
            outputs[name] = "\n".join(iter(lambda: next(lines), delimiter))
        else:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


@pytest.mark.parametrize(("target", "values_key"), [("operator", "image"), ("worker", "workerImage")])
def test_each_image_is_pushed_where_the_chart_pulls_it_from(target: str, values_key: str) -> None:
    build = image_build(target, revision="abc123", source="https://github.com/retrodiction/retrodiction-operator")
    outputs = parse_github_output(build.github_output())
    assert outputs["image"] == f"{VALUES[values_key]['repository']}:{current()}"
    assert outputs["repository"] == VALUES[values_key]["repository"]
    assert outputs["target"] == target
    assert (REPO / outputs["dockerfile"]).is_file()
    assert f"AS {target}" in (REPO / DOCKERFILE).read_text()
    assert outputs["platforms"].split(",") == ["linux/amd64", "linux/arm64"]
    assert outputs["build-args"].splitlines() == [
        f"VERSION={current()}",
        "REVISION=abc123",
        "SOURCE=https://github.com/retrodiction/retrodiction-operator",
    ]


def test_only_the_dockerfiles_targets_are_built() -> None:
    assert set(TARGETS) == {"operator", "worker"}
    with pytest.raises(ValueError, match="unknown target"):
        image_build("everything", revision="abc123", source="")
