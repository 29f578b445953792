"""Helpers of the operator e2e tests: applying runs, waiting for phases, and the CLI's results to compare."""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
import urllib3
import yaml
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from retrodiction.api.children import component_selector
from retrodiction.config import TrainingConfig
from retrodiction.coordinator import ParallelTrainingCoordinator
from retrodiction.driver.checkpoint_configmaps import read_checkpoint_configmaps
from retrodiction.driver.summary_configmaps import read_summary_configmaps
from retrodiction.identity import COMPONENT_CHECKPOINT, COMPONENT_SUMMARY, GROUP, VERSION
from retrodiction.kube_client import as_dict
from retrodiction.manifest import load_training
from retrodiction_harness.binaries import tool
from retrodiction_harness.cluster import Kube
from retrodiction_harness.repo import REPO_ROOT
from tests.results import in_process_results
from tests.s3 import S3Server

PLURAL = "retrodictiontrainings"
EXAMPLE = REPO_ROOT / "examples" / "training-macrodata.yaml"


def training(name: str, **spec_changes: Any) -> dict[str, Any]:
    body = as_dict(yaml.safe_load(EXAMPLE.read_text()))
    body["metadata"] = {"name": name}
    body["spec"]["dask"] = {"mode": "local", "workers": 2}
    for path, value in spec_changes.items():
        node = body["spec"]
        *parents, leaf = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return body


# The operator runs as a process beside the tests and reaches schedulers at their pod addresses: on the local
# control plane those are 127.0.0.N, on the real node addresses of its bridge (routed on this machine); on kind
# they are inside the node containers, where the operator has to run in-cluster (the Helm chart) instead.
needs_pod_addresses = pytest.mark.skipif(
    "config.getoption('--cluster') not in ('local', 'node')", reason="needs pod addresses reachable"
)


# A run computed on its own DaskCluster (pods run by the node stand-in or by kind's nodes).
ON_DASKCLUSTER: dict[str, Any] = {"mode": "kubernetes", "workers": 2}


def weekly_co2_run(name: str, **spec_changes: Any) -> dict[str, Any]:
    """About 2,200 one-week batches of the bundled CO2 series: long enough to be interrupted halfway.

    The slow SES (alpha 0.02 reads about 1,000 weeks of warm-up per forecast) is what keeps it long: light
    batches travel to the workers 16 to a task (execution/grouping.py), so Dask's per-task cost no longer does."""
    return training(
        name,
        variables=["co2"],
        window={"start": "1960-01-01T00:00:00Z", "end": "2002-01-01T00:00:00Z", "batchSizeDays": 7},
        data={"uri": "builtin://co2"},
        retrodiction={"horizons": [1, 4], "seasonLength": 52, "windowLength": 13, "sesAlpha": 0.02},
        **spec_changes,
    )


def wait_for_progress(kube: Kube, namespace: str, name: str, at_least: int, timeout: float = 180) -> dict[str, Any]:
    """The run's status once at least `at_least` batches are done, asserting it is still Running then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = get_run(kube, namespace, name).get("status") or {}
        done = (status.get("batches") or {}).get("succeeded", 0)
        if done >= at_least:
            assert status["phase"] == "Running", status
            assert done < status["batches"]["total"], "the run finished before it could be interrupted"
            return status
        time.sleep(0.3)
    raise AssertionError(f"{name} never reached {at_least} finished batches")


def custom(kube: Kube) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube.api)


def get_run(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return as_dict(custom(kube).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


def listed_items(
    kube: Kube, namespace: str, plural: str = PLURAL, group: str = GROUP, version: str = VERSION, **query: Any
) -> list[dict[str, Any]]:
    """The custom objects of a kind in a namespace (RetrodictionTrainings unless told), as JSON objects."""
    listed = as_dict(custom(kube).list_namespaced_custom_object(group, version, namespace, plural, **query))
    return [as_dict(item) for item in listed["items"]]


class _HasMetadata(Protocol):
    @property
    def metadata(self) -> client.V1ObjectMeta | None: ...


def name_of(obj: _HasMetadata) -> str:
    """The name of an object the client read: the API server always sets it, the client types it Optional."""
    assert obj.metadata is not None and obj.metadata.name is not None, obj
    return obj.metadata.name


def pod_status(pod: client.V1Pod) -> client.V1PodStatus:
    assert pod.status is not None, pod
    return pod.status


def pod_containers(pod: client.V1Pod) -> list[client.V1Container]:
    assert pod.spec is not None, pod
    return pod.spec.containers


def api_message(err: ApiException) -> str:
    """The message of the API server's Status a request was refused with."""
    assert err.body is not None, err
    message: str = as_dict(json.loads(err.body))["message"]
    return message


def serialized(kube: Kube, obj: object) -> dict[str, Any]:
    """A client object as the JSON the API server sent (the client leaves sanitize_for_serialization unannotated)."""
    return as_dict(kube.api.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]


def run_exists(kube: Kube, namespace: str, name: str) -> bool:
    try:
        get_run(kube, namespace, name)
        return True
    except ApiException as err:
        if err.status == 404:
            return False
        raise


def wait_for_phase(kube: Kube, namespace: str, name: str, phases: set[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = get_run(kube, namespace, name)
        if (run.get("status") or {}).get("phase") in phases:
            return run
        time.sleep(0.5)
    raise AssertionError(f"{name} never reached {phases}; status: {run.get('status')}")


def kubectl(kube: Kube, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    binary = tool("kubectl")
    return subprocess.run(
        [str(binary), "--kubeconfig", str(kube.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The same spec computed in-process, as `retrodiction train` would (once per spec and session: parametrized
    tests run the same spec several times)."""
    return copy.deepcopy(_cli_results(json.dumps(body["spec"], sort_keys=True)))


@functools.cache
def _cli_results(spec_json: str) -> list[dict[str, Any]]:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RetrodictionTraining", "metadata": {"name": "cli"}}
    spec = load_training_from({**body, "spec": json.loads(spec_json)}).spec
    coordinator = ParallelTrainingCoordinator(TrainingConfig.from_spec(spec))
    coordinator.prepare_spec_batches(spec)
    return in_process_results(coordinator)


def load_training_from(body: dict[str, Any]) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rt.yaml"
        path.write_text(yaml.safe_dump(body))
        return load_training(path)


def events_of(kube: Kube, namespace: str, name: str) -> list[str]:
    listed = client.CoreV1Api(kube.api).list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    return [event.reason for event in listed.items if event.reason is not None]


def stored_summary(kube: Kube, namespace: str, run: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The summary document read back from the run's ConfigMaps, and those ConfigMaps."""
    meta = {"name": run["metadata"]["name"], "namespace": namespace, "uid": run["metadata"]["uid"]}
    listed = client.CoreV1Api(kube.api).list_namespaced_config_map(
        namespace, label_selector=component_selector(meta, COMPONENT_SUMMARY)
    )
    stored = [serialized(kube, cm) for cm in listed.items]
    return read_summary_configmaps(stored).to_dict(), stored


def checkpointed_batches(kube: Kube, namespace: str, run: dict[str, Any]) -> set[str]:
    """The ids of the batches in the run's checkpoint ConfigMaps (empty once the run has stored its summary)."""
    meta = {"name": run["metadata"]["name"], "namespace": namespace, "uid": run["metadata"]["uid"]}
    listed = client.CoreV1Api(kube.api).list_namespaced_config_map(
        namespace, label_selector=component_selector(meta, COMPONENT_CHECKPOINT)
    )
    stored = [serialized(kube, cm) for cm in listed.items]
    return set(read_checkpoint_configmaps(stored, run_uid=meta["uid"]))


@contextmanager
def recorded_phases(kube: Kube, namespace: str, name: str) -> Iterator[list[str]]:
    """Every phase a run passes through, in order, seen by a watch that starts before the run is created.

    A watch delivers every change of the object, so a phase written and left a moment later is still seen."""
    api = custom(kube)
    since = as_dict(api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))["metadata"]["resourceVersion"]
    phases: list[str] = []
    stream = watch.Watch()

    def record() -> None:
        with contextlib.suppress(urllib3.exceptions.HTTPError):  # the watch outlived the test's control plane
            watch_phases()

    def watch_phases() -> None:
        for event in stream.stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            field_selector=f"metadata.name={name}",
            resource_version=since,
            timeout_seconds=900,
        ):
            phase = (event["object"].get("status") or {}).get("phase")
            if phase and (not phases or phases[-1] != phase):
                phases.append(phase)

    threading.Thread(target=record, name=f"phases-{name}", daemon=True).start()
    try:
        yield phases
    finally:
        stream.stop()


def _as_gitops(
    kube: Kube, verb: str, namespace: str, body: dict[str, Any], folder: Path
) -> subprocess.CompletedProcess[str]:
    """`kubectl VERB --server-side` of the manifest under a field manager of its own, as Argo CD and Flux do."""
    path = folder / f"{body['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(body))
    return kubectl(kube, verb, "--server-side", "--field-manager=gitops", "-n", namespace, "-f", str(path))


def applied_without_drift(kube: Kube, namespace: str, body: dict[str, Any], folder: Path) -> tuple[int, str]:
    """`kubectl diff` of the manifest as a GitOps tool applied it: (exit code, diff). 0 and no diff mean the
    operator changed nothing the manifest owns."""
    result = _as_gitops(kube, "diff", namespace, body, folder)
    return result.returncode, result.stdout + result.stderr


def apply_as_gitops(kube: Kube, namespace: str, body: dict[str, Any], folder: Path) -> None:
    applied = _as_gitops(kube, "apply", namespace, body, folder)
    assert applied.returncode == 0, applied.stderr


def s3_secret(kube: Kube, namespace: str, s3_server: S3Server, name: str = "s3") -> str:
    """A Secret holding the S3 server's credentials, as a run's credentialsSecretRef names it; its name."""
    data = {"key": s3_server.access_key, "secret": s3_server.secret_key}
    client.CoreV1Api(kube.api).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name),
            data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        ),
    )
    return name
