"""Where a run's summary and checkpoints live under spec.output.uri.

The uid is part of the path so a run deleted and re-created under the same name never reads the old run's
checkpoints as its own, nor overwrites the old run's summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from retrodiction.api.children import summary_configmap_name

if TYPE_CHECKING:
    from retrodiction.api.training import OutputSpec


def _segment(value: str, what: str) -> str:
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"{what} must be a non-empty path segment, got {value!r}")
    return value


def run_prefix(output_uri: str, run_namespace: str, run_name: str, run_uid: str) -> str:
    """`<output.uri>/<namespace>/<name>/<uid>/`; output.uri is a prefix whether or not it ends with a slash."""
    if not output_uri:
        raise ValueError("output uri must not be empty")
    parts = (
        _segment(run_namespace, "namespace"),
        _segment(run_name, "run name"),
        _segment(run_uid, "run uid"),
    )
    return output_uri.rstrip("/") + "/" + "/".join(parts) + "/"


def summary_uri(output_uri: str, run_namespace: str, run_name: str, run_uid: str) -> str:
    return run_prefix(output_uri, run_namespace, run_name, run_uid) + "summary.json"


def report_uri(output_uri: str, run_namespace: str, run_name: str, run_uid: str) -> str:
    """The HTML report, beside the summary."""
    return run_prefix(output_uri, run_namespace, run_name, run_uid) + "report.html"


def checkpoint_uri(output_uri: str, run_namespace: str, run_name: str, run_uid: str) -> str:
    """A folder for `FsspecCheckpoint` (one object per finished batch)."""
    return run_prefix(output_uri, run_namespace, run_name, run_uid) + "checkpoints/"


def summary_places(output: OutputSpec, run_meta: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Where a run's summary is stored, from its spec.output: the ConfigMap's name (None when disabled) and the
    URI (None without spec.output.uri). The driver writes there; the operator and the history name the same."""
    name, namespace, uid = run_meta["name"], run_meta["namespace"], run_meta["uid"]
    config_map = summary_configmap_name(name, output.config_map.name) if output.config_map.enabled else None
    return config_map, summary_uri(output.uri, namespace, name, uid) if output.uri else None
