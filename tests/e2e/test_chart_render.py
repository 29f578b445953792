"""The Helm chart, rendered without a cluster: `helm lint` and `helm template` with the value sets users install
with, values the schema must refuse, and the properties a platform team checks before installing an operator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import dask_kubernetes
import pytest
import yaml

import retrodiction
from retrodiction.api.crd import all_crds
from retrodiction.api.policy import AdminPolicy
from retrodiction.controller.driver import DRIVER_CLUSTER_RULES
from retrodiction.controller.settings import OperatorSettings
from retrodiction_harness.chart import CHART, DASK_CHART, chart_metadata, helm, prepared_chart, rendered

VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "one-namespace": ["rbac.cluster=false", "watchNamespaces={team-a}"],
    "two-namespaces-with-standby": [
        "rbac.cluster=false",
        "watchNamespaces={team-a,team-b}",
        "peering.enabled=true",
        "replicaCount=2",
    ],
    "cluster-standby-monitored": ["peering.enabled=true", "replicaCount=2", "metrics.serviceMonitor.enabled=true"],
    "with-dask-operator": ["dask-kubernetes-operator.enabled=true"],
    "pinned-images": ["image.tag=1.2.3", "workerImage.repository=registry.local/worker", "workerImage.tag=1.2.3"],
}


@pytest.fixture(scope="module")
def chart(tools: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared_chart(tmp_path_factory.mktemp("chart"))


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [obj for obj in by_kind(objects, "Deployment") if "retrodiction" in obj["metadata"]["name"]]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_chart_versions_follow_the_package_and_the_locked_dask_kubernetes() -> None:
    metadata = chart_metadata()
    assert metadata["appVersion"] == retrodiction.__version__
    (dependency,) = metadata["dependencies"]
    assert dependency["name"] == DASK_CHART
    # The copy used offline comes from the wheel in the lock: it is the published chart only at the same version.
    assert dependency["version"] == dask_kubernetes.__version__


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_helm_lint_passes(chart: Path, name: str) -> None:
    args = [arg for value in VALUE_SETS[name] for arg in ("--set", value)]
    result = helm("lint", "--strict", str(chart), *args)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (["watchNamespace={a}"], "additional properties 'watchNamespace' not allowed"),
        (["replicaCount=two"], "/replicaCount"),
        (["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (["watchNamespaces={Team_A}"], "/watchNamespaces/0"),
        (["rbac.cluster=yes"], "/rbac/cluster"),
        (["metrics.port=70000"], "/metrics/port"),
        (["peering.lifetimeSeconds=1"], "/peering/lifetimeSeconds"),
        (["policy.uriSchemes={builtin,http}"], "/policy/uriSchemes/1"),
        (["policy.daskModes={cloud}"], "/policy/daskModes/0"),
        (["policy.maxBatchesPerRun=0"], "/policy/maxBatchesPerRun"),
        (["replicaCount=2"], "replicaCount > 1 needs peering.enabled=true"),
        (["rbac.cluster=false"], "rbac.cluster=false needs watchNamespaces"),
        (["metrics.service.enabled=false", "metrics.serviceMonitor.enabled=true"], "needs metrics.service.enabled"),
    ],
)
def test_wrong_values_are_refused_with_a_message_naming_them(chart: Path, values: list[str], complaint: str) -> None:
    args = [arg for value in values for arg in ("--set", value)]
    result = helm("template", "rel", str(chart), *args)
    assert result.returncode != 0, f"{values} rendered"
    assert complaint in result.stderr, result.stderr


def test_every_documented_value_is_in_the_schema_and_nothing_else(chart: Path) -> None:
    # additionalProperties=false everywhere: a key in values.yaml the schema lacks would make the defaults invalid,
    # which the defaults' lint would catch; this catches schema keys values.yaml no longer documents.
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(schema["properties"]) - {"global"} == set(values)


def test_the_operator_runs_non_root_with_a_read_only_root_filesystem_and_a_liveness_probe(chart: Path) -> None:
    objects = rendered(chart)
    (deployment,) = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container(objects)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_both_images_default_to_the_charts_app_version(chart: Path) -> None:
    container = operator_container(rendered(chart))
    version = chart_metadata()["appVersion"]
    assert container["image"].endswith(f"/retrodiction-operator:{version}")
    assert env_of(container)["RETRODICTION_WORKER_IMAGE"].endswith(f"/retrodiction-worker:{version}")
    pinned = operator_container(rendered(chart, *VALUE_SETS["pinned-images"]))
    assert pinned["image"].endswith(":1.2.3")
    assert env_of(pinned)["RETRODICTION_WORKER_IMAGE"] == "registry.local/worker:1.2.3"


def operator_roles(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The operator's own Roles or ClusterRoles (not the drivers' ClusterRole, which it binds per run)."""
    return [role for role in by_kind(objects, kind) if not role["metadata"]["name"].endswith("-driver")]


def test_cluster_wide_rbac_is_one_clusterrole_and_namespaced_rbac_is_a_role_per_namespace(chart: Path) -> None:
    cluster_wide = rendered(chart)
    assert not by_kind(cluster_wide, "Role")
    (cluster_role,) = operator_roles(cluster_wide, "ClusterRole")
    assert any("daskclusters" in rule["resources"] for rule in cluster_role["rules"])
    assert operator_container(cluster_wide)["args"] == ["operator", "--all-namespaces"]

    namespaced = rendered(chart, *VALUE_SETS["two-namespaces-with-standby"])
    roles = by_kind(namespaced, "Role")
    assert sorted(role["metadata"]["namespace"] for role in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in by_kind(namespaced, "RoleBinding")) == ["team-a", "team-b"]
    # Cluster-wide, only what Kopf must read everywhere: the CRDs and which namespaces exist.
    (cluster_role,) = operator_roles(namespaced, "ClusterRole")
    assert [rule["resources"] for rule in cluster_role["rules"]] == [["customresourcedefinitions"], ["namespaces"]]
    assert operator_container(namespaced)["args"] == ["operator", "--namespace=team-a", "--namespace=team-b"]
    assert all(any(rule["resources"] == ["kopfpeerings"] for rule in role["rules"]) for role in roles)


def test_no_rule_grants_wildcards_and_the_operator_no_verb_on_secrets(chart: Path) -> None:
    for name, values in VALUE_SETS.items():
        objects = rendered(chart, *values)
        for role in [*by_kind(objects, "ClusterRole"), *by_kind(objects, "Role")]:
            if role["metadata"]["name"].startswith("rel-retrodiction"):
                for rule in role["rules"]:
                    assert "*" not in rule["verbs"] and "*" not in rule["resources"], (name, rule)
        for role in [*operator_roles(objects, "ClusterRole"), *operator_roles(objects, "Role")]:
            assert not [rule for rule in role["rules"] if "secrets" in rule["resources"]], (name, role)


def test_the_drivers_clusterrole_is_what_the_operator_expects_and_only_creates_secrets(chart: Path) -> None:
    (driver,) = [
        role for role in by_kind(rendered(chart), "ClusterRole") if role["metadata"]["name"].endswith("-driver")
    ]
    assert driver["rules"] == [dict(rule) for rule in DRIVER_CLUSTER_RULES]
    (deployment,) = by_kind(rendered(chart), "Deployment")
    env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    assert env["RETRODICTION_DRIVER_CLUSTER_ROLE"] == driver["metadata"]["name"]
    # The policy reaches the operator as the JSON its settings read.
    assert OperatorSettings(policy=json.loads(env["RETRODICTION_POLICY"])).policy == AdminPolicy()


def test_the_crd_templates_render_to_the_generated_crds_and_are_kept_on_uninstall(chart: Path) -> None:
    objects = rendered(chart)
    crds = {crd["metadata"]["name"]: crd for crd in by_kind(objects, "CustomResourceDefinition")}
    generated = {crd["metadata"]["name"]: crd for crd in all_crds()}
    assert set(crds) == {
        f"{plural}.training.retrodiction.dev" for plural in ("retrodictiontrainings", "retrodictionschedules")
    }
    for name, crd in crds.items():
        assert crd["spec"] == generated[name]["spec"]
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    with_peering = rendered(chart, *VALUE_SETS["cluster-standby-monitored"])
    assert {crd["metadata"]["name"] for crd in by_kind(with_peering, "CustomResourceDefinition")} == set(generated)
    assert not by_kind(rendered(chart, "crds.install=false"), "CustomResourceDefinition")


def test_standby_replicas_share_a_peering_and_roll_instead_of_recreate(chart: Path) -> None:
    objects = rendered(chart, *VALUE_SETS["cluster-standby-monitored"])
    (deployment,) = by_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "strategy" not in deployment["spec"]
    assert env_of(operator_container(objects))["RETRODICTION_PEERING"] == "rel-retrodiction-operator"
    (cluster_role,) = operator_roles(objects, "ClusterRole")
    assert any(rule["resources"] == ["clusterkopfpeerings"] for rule in cluster_role["rules"])
    (monitor,) = by_kind(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_the_dask_kubernetes_operator_comes_with_the_chart_only_when_asked(chart: Path) -> None:
    assert not [obj for obj in rendered(chart) if "dask" in obj["metadata"]["name"]]
    with_dask = rendered(chart, *VALUE_SETS["with-dask-operator"])
    (dask_deployment,) = [d for d in by_kind(with_dask, "Deployment") if "dask" in d["metadata"]["name"]]
    image = dask_deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(f":{dask_kubernetes.__version__}")


@pytest.mark.parametrize("cluster", [True, False])
def test_the_dask_kubernetes_controller_may_set_finalizers_of_its_own_resources(chart: Path, cluster: bool) -> None:
    # Without it, OwnerReferencesPermissionEnforcement refuses every child of a DaskCluster (found on the real node).
    objects = rendered(chart, *VALUE_SETS["with-dask-operator"], f"dask-kubernetes-operator.rbac.cluster={cluster}")
    kind = "ClusterRole" if cluster else "Role"
    [account] = [a for a in by_kind(objects, "ServiceAccount") if "dask" in a["metadata"]["name"]]
    [role] = [r for r in by_kind(objects, kind) if r["metadata"]["name"].endswith("-finalizers")]
    [binding] = [b for b in by_kind(objects, f"{kind}Binding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "retrodiction-system"}
    ]
    [rule] = role["rules"]
    assert rule["verbs"] == ["update"] and "daskclusters/finalizers" in rule["resources"]
    assert all(resource.endswith("/finalizers") for resource in rule["resources"])
    assert not [r for r in rendered(chart) if r["metadata"]["name"].endswith("-finalizers")]


DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_rendered_object_and_container_has_a_name_the_api_server_accepts(chart: Path, name: str) -> None:
    # The API server's own rules (RFC 1123): a dependency alias such as daskKubernetesOperator once named the
    # dask-kubernetes objects and failed only at install time.
    bad = []
    for obj in rendered(chart, *VALUE_SETS[name]):
        names = [obj["metadata"]["name"]]
        template = (obj.get("spec") or {}).get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        if not DNS_SUBDOMAIN.fullmatch(names[0]) or len(names[0]) > 253:
            bad.append(f"{obj['kind']} {names[0]}")
        service_account = (template.get("spec") or {}).get("serviceAccountName")
        if service_account is not None and not DNS_SUBDOMAIN.fullmatch(service_account):
            bad.append(f"{obj['kind']} {names[0]}: serviceAccountName {service_account}")
        bad += [
            f"{obj['kind']} {names[0]}: container {c['name']}"
            for c in containers
            if not DNS_LABEL.fullmatch(c["name"]) or len(c["name"]) > 63
        ]
    assert bad == []
