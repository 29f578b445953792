"""The chart's ValidatingAdmissionPolicy on a real API server: what the admin policy refuses is refused when it is
applied, with the field and the rule in the message; what it allows goes through; objects admitted before stay
manageable.

The policy, its parameter ConfigMap and its binding are rendered from the chart and applied as they are, bound to
this test's namespace only (the chart binds them to watchNamespaces when set), so no other test sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction.identity import GROUP, VERSION
from retrodiction_harness.chart import helm, prepared_chart
from retrodiction_harness.cluster import Kube
from retrodiction_harness.crds import apply_project_crds
from retrodiction_harness.waiting import eventually
from tests.e2e.runs import PLURAL, api_message, custom, training

SCHEDULES = "retrodictionschedules"


def _apply(kube: Kube, obj: dict[str, Any], namespace: str) -> None:
    kind = obj["kind"]
    if kind == "ValidatingAdmissionPolicy":
        client.AdmissionregistrationV1Api(kube.api).create_validating_admission_policy(obj)  # type: ignore[arg-type]  # the chart's rendered dict
    elif kind == "ValidatingAdmissionPolicyBinding":
        client.AdmissionregistrationV1Api(kube.api).create_validating_admission_policy_binding(obj)  # type: ignore[arg-type]  # as above
    else:
        raise AssertionError(f"unexpected {kind}")


def bind_policy(kube: Kube, namespace: str, tmp_path: Path) -> str:
    """The chart's admission policy, bound to `namespace`, in effect; returns the release name."""
    apply_project_crds(kube.api)
    chart = prepared_chart(tmp_path)
    release = f"adm-{namespace[-5:]}"
    rendered = helm(
        "template", release, str(chart), "--namespace", namespace, "--show-only", "templates/admission-policy.yaml",
        "--set", f"watchNamespaces={{{namespace}}}", "--set", "rbac.cluster=false",
        "--set", "policy.images={registry.example.com/team/*}", "--set", "policy.maxWorkersPerRun=4",
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    assert [obj["kind"] for obj in objects] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    for obj in objects:
        _apply(kube, obj, namespace)
    admission = client.AdmissionregistrationV1Api(kube.api)

    def in_effect() -> bool:
        """A bad run refused with the policy's own message (a new policy takes a moment to be loaded)."""
        try:
            create(kube, namespace, training("probe", data={"uri": "file:///probe.csv"}))
        except ApiException as err:
            return "spec.data.uri: scheme file" in api_message(err)
        custom(kube).delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "probe")
        return False

    name: str = objects[0]["metadata"]["name"]
    # A new policy takes a moment to be loaded and type-checked.
    eventually(
        in_effect,
        "the admission policy to take effect",
        lambda: str(admission.read_validating_admission_policy(name).status),
    )
    return name


def unbind_policy(kube: Kube, name: str) -> None:
    admission = client.AdmissionregistrationV1Api(kube.api)
    admission.delete_validating_admission_policy_binding(name)
    admission.delete_validating_admission_policy(name)


@pytest.fixture
def policy(kube: Kube, namespace: str, tmp_path: Path) -> Iterator[str]:
    release = bind_policy(kube, namespace, tmp_path)
    yield release
    unbind_policy(kube, release)


def create(kube: Kube, namespace: str, body: dict[str, Any], plural: str = PLURAL) -> None:
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)


def refusal(kube: Kube, namespace: str, body: dict[str, Any], plural: str = PLURAL) -> str:
    with pytest.raises(ApiException) as refused:
        create(kube, namespace, body, plural)
    assert refused.value.status in (403, 422), refused.value
    return api_message(refused.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dask": {"mode": "address", "address": "tcp://10.0.0.1:8786"}},
         "spec.dask.mode: address is not allowed by the admin policy (kubernetes, local)"),
        ({"dask": {"mode": "kubernetes", "image": "docker.io/me/worker:1"}},
         "spec.dask.image: docker.io/me/worker:1 is not an image the admin policy allows"),
        ({"dask": {"mode": "kubernetes", "workers": 5}}, "spec.dask.workers: 5 is over the limit of 4"),
        ({"data": {"uri": "file:///etc/passwd"}}, "spec.data.uri: scheme file"),
        ({"data": {"uri": "reference://"}}, "spec.data.uri: scheme reference"),
        ({"data": {"uri": "http://169.254.169.254/latest/meta-data/x.csv"}}, "spec.data.uri: scheme http"),
        ({"data": {"uri": "simplecache::s3://bucket/x.csv"}}, "(or a chained URL)"),
        ({"data": {"uri": "data:text/csv;base64,AAAA"}}, "spec.data.uri: scheme data"),
        ({"data": {"uri": "s3://bucket/x.csv", "storageOptions": {"fo": "/etc/passwd"}}},
         "spec.data.storageOptions: keys allowed by the admin policy are anon,"),
        ({"output": {"uri": "file:///tmp/out/"}}, "spec.output.uri: scheme file"),
        ({"variablesPerBatch": 1, "variables": [f"v{i}" for i in range(50)],
          "window": {"start": "1900-01-01T00:00:00Z", "end": "2010-01-01T00:00:00Z", "batchSizeDays": 1}},
         "spec.window.batchSizeDays: the window and variables make more batches than the limit of 100000"),
    ],
)  # fmt: skip
def test_a_run_that_breaks_the_admin_policy_is_refused_naming_the_field_and_the_rule(
    kube: Kube, namespace: str, policy: str, changes: dict[str, Any], message: str
) -> None:
    body = training("refused", **changes)
    assert message in refusal(kube, namespace, body)


def test_a_schedule_whose_template_breaks_the_policy_is_refused_naming_the_template_field(
    kube: Kube, namespace: str, policy: str
) -> None:
    template = training("x")["spec"]
    template.pop("window")
    template["window"] = {"lookback": "3650d"}
    template["data"] = {"uri": "http://example.com/data.csv"}
    schedule = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RetrodictionSchedule",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 2 * * *", "template": {"spec": template}},
    }
    assert "spec.template.spec.data.uri: scheme http" in refusal(kube, namespace, schedule, SCHEDULES)


def test_what_the_policy_allows_is_admitted(kube: Kube, namespace: str, policy: str) -> None:
    create(kube, namespace, training("builtin", data={"uri": "builtin://macrodata"}))
    create(kube, namespace, training("pattern", dask={"mode": "kubernetes", "image": "registry.example.com/team/w:2"}))
    create(
        kube,
        namespace,
        training("s3", data={"uri": "s3://bucket/data.parquet", "storageOptions": {"anon": True}}),
    )


def test_an_object_admitted_before_the_policy_stays_manageable(kube: Kube, namespace: str, tmp_path: Path) -> None:
    # Created while no policy is bound: file data (a single-tenant install's choice, since changed).
    apply_project_crds(kube.api)
    create(kube, namespace, training("legacy", data={"uri": "file:///data/old.csv"}))
    release = bind_policy(kube, namespace, tmp_path)
    try:
        # Kopf's finalizers and annotations, and labels, on the unchanged spec go through ...
        custom(kube).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "legacy", {"metadata": {"labels": {"team": "a"}, "finalizers": []}}
        )
        # ... a change of the spec is judged by the policy.
        with pytest.raises(ApiException) as refused:
            custom(kube).patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "legacy", {"spec": {"variablesPerBatch": 7}}
            )
        assert "spec.data.uri: scheme file" in api_message(refused.value)
    finally:
        unbind_policy(kube, release)
