"""`retrodiction report` reading runs from a real API server: a summary split over ConfigMaps, and one line for
what cannot be read (no run, a run not finished, a corrupt part, credentials that may not read it).

No operator runs here: each test writes a run's status and ConfigMaps as a driver and the operator would."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from retrodiction.api.summary import parse_summary
from retrodiction.cli import main
from retrodiction.cluster_reader import KubeClusterReader
from retrodiction.driver.summary_configmaps import summary_configmaps
from retrodiction.identity import GROUP, VERSION
from retrodiction.kube_client import as_dict
from retrodiction.summary_sources import RunSource, SourceError, read_run_summary
from retrodiction_harness.cluster import Kube
from retrodiction_harness.crds import apply_project_crds
from tests.e2e.runs import PLURAL, custom, training
from tests.unit.test_report_samples import make_summary

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("project_crds")]

# 2,000 variables x 5 models x 2 horizons: about 7 MB of JSON, more than 2 MiB even gzipped.
WIDE = [f"series-{i:05d}" for i in range(2000)]


@pytest.fixture(scope="module")
def project_crds(kube: Kube) -> None:
    apply_project_crds(kube.api)


def _finished_run(kube: Kube, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
    """A run whose status says what a driver and the operator would have written."""
    api = custom(kube)
    body = training(name)
    body["spec"]["suspend"] = True
    created = as_dict(api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body))
    api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, {"status": status})
    return created


def _store(kube: Kube, run: dict[str, Any], configmaps: list[dict[str, Any]]) -> None:
    core = client.CoreV1Api(kube.api)
    for configmap in configmaps:
        core.create_namespaced_config_map(run["metadata"]["namespace"], configmap)  # type: ignore[arg-type]  # a raw ConfigMap


def _meta(run: dict[str, Any]) -> dict[str, str]:
    return {key: run["metadata"][key] for key in ("name", "namespace", "uid")}


SUCCEEDED = {"phase": "Succeeded", "summaryRef": {"configMap": "wide-summary"}}


def test_a_summary_split_over_configmaps_renders(
    kube: Kube, namespace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = parse_summary(make_summary(WIDE, horizons=(1, 7)))
    run = _finished_run(kube, namespace, "wide", SUCCEEDED)
    configmaps = summary_configmaps(_meta(run), summary, name=None)
    _store(kube, run, configmaps)
    assert len(configmaps) >= 4  # the index and parts: 2 MiB or more of gzip at 900 KiB a part
    html = tmp_path / "wide.html"
    assert main(["report", "rt/wide", "-n", namespace, "--html", str(html), "--top", "3"]) == 0
    out, err = capsys.readouterr()
    assert "series-00000" in out and "1997 of 2000 variables left out" in " ".join(out.split())
    assert f"summary: ConfigMap wide-summary ({len(configmaps) - 1} parts)" in err
    assert html.stat().st_size > 10_000


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


def test_a_missing_run_is_one_line(kube: Kube, namespace: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _one_line_error(capsys, ["report", "rt/nobody", "-n", namespace]) == (
        f"error: rt/nobody in namespace {namespace}: no such RetrodictionTraining"
    )


def test_a_run_not_finished_is_one_line_with_its_progress(
    kube: Kube, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _finished_run(kube, namespace, "busy", {"phase": "Running", "batches": {"total": 40, "succeeded": 12}})
    assert _one_line_error(capsys, ["report", f"{namespace}/busy"]) == (
        f"error: rt/busy in namespace {namespace}: the run is Running (12/40 batches); its summary is stored when "
        "it ends"
    )


def test_a_corrupt_part_is_one_line_naming_the_summary(
    kube: Kube, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = parse_summary(make_summary(WIDE, horizons=(1, 7)))
    run = _finished_run(kube, namespace, "wide", SUCCEEDED)
    configmaps = summary_configmaps(_meta(run), summary, name=None)
    blob = bytearray(base64.b64decode(configmaps[2]["binaryData"]["summary.json.gz.part"]))
    blob[len(blob) // 2] ^= 0xFF
    configmaps[2]["binaryData"]["summary.json.gz.part"] = base64.b64encode(bytes(blob)).decode()
    _store(kube, run, configmaps)
    err = _one_line_error(capsys, ["report", "rt/wide", "-n", namespace])
    assert err.startswith(f"error: rt/wide in namespace {namespace}: summary wide-summary ")
    assert "stale or altered" in err


def test_credentials_that_may_not_read_configmaps_are_named(kube: Kube, namespace: str) -> None:
    """A user who may read runs but not ConfigMaps (RBAC), as the API server itself decides."""
    run = _finished_run(kube, namespace, "wide", SUCCEEDED)
    _store(kube, run, summary_configmaps(_meta(run), parse_summary(make_summary(WIDE[:3])), name=None))
    rbac = client.RbacAuthorizationV1Api(kube.api)
    role = {
        "metadata": {"name": "runs-only"},
        "rules": [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get"]}],
    }
    rbac.create_namespaced_role(namespace, role)  # type: ignore[arg-type]  # a raw Role
    binding = {
        "metadata": {"name": "runs-only"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runs-only"},
        "subjects": [{"kind": "User", "name": "reader", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    rbac.create_namespaced_role_binding(namespace, binding)  # type: ignore[arg-type]  # a raw RoleBinding
    impersonating = client.ApiClient(kube.api.configuration)
    impersonating.set_default_header("Impersonate-User", "reader")  # type: ignore[no-untyped-call]
    with pytest.raises(SourceError) as caught:
        read_run_summary(RunSource("wide"), namespace, KubeClusterReader(impersonating))
    message = str(caught.value)
    assert message.startswith(f"ConfigMap wide-summary in namespace {namespace}: the kubeconfig's credentials may not")
    assert "403" in message
    assert json.dumps(message).count("\\n") == 0
