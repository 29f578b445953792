"""`retrodiction report rt/NAME` on a run the operator ran: the same tables and figure data as the command line's
run of the same manifest (only times, run names and uids differ), also through `kubectl retrodiction`."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from retrodiction.cli import main
from retrodiction.identity import GROUP, VERSION
from retrodiction_harness.binaries import tool
from retrodiction_harness.cluster import Kube
from retrodiction_harness.operator_process import OperatorProcess
from tests.e2e.runs import PLURAL, custom, training, wait_for_phase
from tests.results import assert_same_results

pytestmark = pytest.mark.e2e


def _figure_ids(html: str) -> list[str]:
    return re.findall(r'<svg[^>]* id="([^"]+)"', html)


def test_the_report_of_a_run_in_the_cluster_is_the_command_lines_report(
    kube: Kube, namespace: str, operator: OperatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = training("macro")
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    manifest = tmp_path / "macro.yaml"
    manifest.write_text(yaml.safe_dump(body))
    local_html, cluster_html = tmp_path / "local.html", tmp_path / "cluster.html"
    train = ["train", str(manifest), "--output", str(tmp_path / "local.json"), "--report", str(local_html)]
    assert main([*train, "--format", "json", "--quiet"]) == 0
    local = json.loads(capsys.readouterr().out)
    run = wait_for_phase(kube, namespace, "macro", {"Succeeded", "Failed"}, timeout=180)
    assert run["status"]["phase"] == "Succeeded", run["status"]

    report = ["report", "rt/macro", "-n", namespace, "--html", str(cluster_html), "--format", "json", "--quiet"]
    assert main(report) == 0
    remote = json.loads(capsys.readouterr().out)
    assert remote["variablesLeftOut"] == local["variablesLeftOut"] == 0
    assert [(r["variable"], r["horizon"], r["rank"], r["model"]) for r in remote["rows"]] == [
        (r["variable"], r["horizon"], r["rank"], r["model"]) for r in local["rows"]
    ]
    assert_same_results(remote["rows"], local["rows"])
    assert _figure_ids(cluster_html.read_text()) == _figure_ids(local_html.read_text())
    assert len(_figure_ids(cluster_html.read_text())) >= 3
    # The driver stored the same report beside the summary, and the status names it.
    ref = run["status"]["summaryRef"]
    assert ref == {"configMap": "macro-summary", "reportConfigMap": "macro-summary-html"}
    stored = client.CoreV1Api(kube.api).read_namespaced_config_map("macro-summary-html", namespace)
    html = gzip.decompress(base64.b64decode((stored.binary_data or {})["report.html.gz"])).decode()
    assert _figure_ids(html) == _figure_ids(local_html.read_text())


def test_kubectl_runs_the_report_as_its_plugin(kube: Kube, namespace: str, operator: OperatorProcess) -> None:
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, training("plugged"))
    wait_for_phase(kube, namespace, "plugged", {"Succeeded"}, timeout=180)
    # kubectl finds kubectl-retrodiction on the PATH, where the package installed it beside `retrodiction`.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["KUBECONFIG"] = str(kube.kubeconfig)
    command = [str(tool("kubectl")), "retrodiction", "report", "rt/plugged", "-n", namespace, "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert {row["variable"] for row in json.loads(done.stdout)["rows"]} == set(training("x")["spec"]["variables"])
