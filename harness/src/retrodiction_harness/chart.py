"""The Helm chart under test: a copy with its dependency in place, and `helm` against the local control plane.

The chart depends on the dask-kubernetes operator chart from https://helm.dask.org, which CI machines cannot
reach. The dask-kubernetes wheel pinned in requirements/lock.txt carries that very chart; only its version fields
are left as placeholders for their release tool (chartpress), so the copy sets them to the wheel's version, as
the published chart has them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask_kubernetes
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction_harness.binaries import tool
from retrodiction_harness.repo import REPO_ROOT

CHART = REPO_ROOT / "charts" / "retrodiction-operator"
DASK_CHART = "dask-kubernetes-operator"


def chart_metadata(chart: Path = CHART) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((chart / "Chart.yaml").read_text())
    return loaded


def vendored_dask_chart(destination: Path) -> Path:
    """The dask-kubernetes operator chart of the installed wheel, with its release version filled in."""
    source = Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm" / DASK_CHART
    target = destination / DASK_CHART
    shutil.copytree(source, target)
    version = dask_kubernetes.__version__
    metadata = yaml.safe_load((target / "Chart.yaml").read_text())
    metadata.update(version=version, appVersion=version)
    (target / "Chart.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    values = (target / "values.yaml").read_text().replace('tag: "set-by-chartpress"', f'tag: "{version}"')
    (target / "values.yaml").write_text(values)
    return target


def prepared_chart(workdir: Path, source: Path = CHART) -> Path:
    """A copy of the chart with charts/ filled, as `helm dependency build` would leave it."""
    chart = workdir / source.name
    shutil.copytree(source, chart)
    (chart / "charts").mkdir(exist_ok=True)
    vendored_dask_chart(chart / "charts")
    return chart


def helm(*args: str, kubeconfig: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    binary = tool("helm")
    command = [str(binary), *args, *(["--kubeconfig", str(kubeconfig)] if kubeconfig else [])]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def rendered(chart: Path, *set_values: str, values_file: Path | None = None) -> list[dict[str, Any]]:
    """`helm template` output as objects; fails the test with helm's message if rendering fails."""
    args = ["template", "rel", str(chart), "--namespace", "retrodiction-system"]
    for value in set_values:
        args += ["--set", value]
    if values_file is not None:
        args += ["--values", str(values_file)]
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def adopt_existing_crds(api: client.ApiClient, crds: Sequence[str], release: str, namespace: str) -> None:
    """Let Helm take over CRDs applied before (crds/ with kubectl, or a release since uninstalled): the documented
    migration path."""
    extensions = client.ApiextensionsV1Api(api)
    for name in crds:
        try:
            extensions.patch_custom_resource_definition(
                name,
                {
                    "metadata": {
                        "labels": {"app.kubernetes.io/managed-by": "Helm"},
                        "annotations": {
                            "meta.helm.sh/release-name": release,
                            "meta.helm.sh/release-namespace": namespace,
                        },
                    }
                },
            )
        except ApiException as err:
            if err.status != 404:
                raise
