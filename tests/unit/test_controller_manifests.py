import json
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import dask_kubernetes
import jsonschema
import pytest
import yaml

from retrodiction.api.children import (
    MAX_DASK_CLUSTER_NAME,
    child_metadata,
    component_selector,
    dask_cluster_name,
    owner_reference,
    run_label_value,
)
from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.controller.dask_cluster import (
    build_dask_cluster,
    parse_quantity,
    worker_resources,
)

RUN = {"name": "gdp-2024", "namespace": "team-a", "uid": "0b6a3c1e-1111-2222-3333-444455556666", "generation": 3}
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CRD_PATH = (
    Path(dask_kubernetes.__file__).parent / "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
)


def _spec(**dask: Any) -> RetrodictionTrainingSpec:
    return RetrodictionTrainingSpec.model_validate(
        {
            "variables": ["realgdp", "cpi"],
            "window": {"start": "1990-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"},
            "data": {"uri": "builtin://macrodata"},
            "dask": dask,
        }
    )


def _containers(cluster: Mapping[str, Any], role: str) -> list[dict[str, Any]]:
    return list(cluster["spec"][role]["spec"]["containers"])


# --- ownership and labels ------------------------------------------------------------------------------------------


def test_owner_reference_makes_the_run_the_controlling_owner() -> None:
    assert owner_reference(RUN) == {
        "apiVersion": "training.retrodiction.dev/v1alpha1",
        "kind": "RetrodictionTraining",
        "name": "gdp-2024",
        "uid": RUN["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


@pytest.mark.parametrize("missing", ["name", "uid"])
def test_owner_reference_needs_name_and_uid(missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        owner_reference({k: v for k, v in RUN.items() if k != missing})


def test_child_metadata_puts_the_child_in_the_runs_namespace_with_the_common_labels() -> None:
    meta = child_metadata(RUN, "gdp-2024-summary", {"app.kubernetes.io/managed-by": "someone-else", "x": "y"})
    assert meta["name"] == "gdp-2024-summary"
    assert meta["namespace"] == "team-a"
    assert meta["labels"] == {
        "x": "y",
        "app.kubernetes.io/managed-by": "retrodiction-operator",
        "app.kubernetes.io/part-of": "retrodiction",
        "training.retrodiction.dev/run": "gdp-2024",
        "training.retrodiction.dev/run-uid": RUN["uid"],
    }
    assert meta["ownerReferences"] == [owner_reference(RUN)]


def test_child_metadata_needs_the_runs_namespace() -> None:
    with pytest.raises(ValueError, match="namespace"):
        child_metadata({"name": "a", "uid": "u"}, "a-summary")


def test_a_long_run_name_becomes_a_valid_distinct_label_value() -> None:
    long_a, long_b = "a" * 200 + ".x", "a" * 200 + ".y"
    assert run_label_value("short.name") == "short.name"
    assert len(run_label_value(long_a)) == 63
    assert run_label_value(long_a) != run_label_value(long_b)
    assert re.match(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", run_label_value(long_a))


def test_component_selector_selects_by_uid_so_a_recreated_run_is_not_mixed_in() -> None:
    assert component_selector(RUN, "checkpoint") == (
        f"training.retrodiction.dev/run-uid={RUN['uid']},app.kubernetes.io/component=checkpoint"
    )


# --- the DaskCluster name ------------------------------------------------------------------------------------------


def test_a_short_plain_run_name_is_the_cluster_name() -> None:
    assert dask_cluster_name("gdp-2024") == "gdp-2024"


@pytest.mark.parametrize(
    "run_name", ["a.b", "2024-gdp", "x" * 37, "x" * 38, "a" * 253, "run.with.dots-" + "z" * 200, "a-", "UPPER"]
)
def test_cluster_names_leave_room_for_dask_kubernetes_suffixes(run_name: str) -> None:
    name = dask_cluster_name(run_name)
    assert DNS_1035_LABEL.match(name), name
    assert len(name) <= MAX_DASK_CLUSTER_NAME
    assert len(f"{name}-default-worker-0123456789") <= 63
    assert dask_cluster_name(run_name) == name


def test_names_that_had_to_change_do_not_collide() -> None:
    names = {dask_cluster_name(n) for n in ["a.b", "a-b", "x" * 60 + "1", "x" * 60 + "2", "1a", "rt-1a"]}
    assert len(names) == 6


# --- quantities and resources --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2Gi", Decimal(2 * 1024**3)),
        ("512Mi", Decimal(512 * 1024**2)),
        ("1G", Decimal(10**9)),
        ("1e9", Decimal(10**9)),
        ("1E", Decimal(10**18)),
        ("500m", Decimal("0.5")),
        ("1.5Gi", Decimal(3 * 512 * 1024**2)),
        (3, Decimal(3)),
        (0.25, Decimal("0.25")),
    ],
)
def test_parse_quantity_reads_kubernetes_quantities(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "2GB", "Gi", "1.2.3", "two"])
def test_parse_quantity_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)


def test_worker_resources_become_strings_as_the_crd_types_them() -> None:
    assert worker_resources({"limits": {"cpu": 2, "memory": "4Gi"}, "requests": {"cpu": 0.5}}) == {
        "limits": {"cpu": "2", "memory": "4Gi"},
        "requests": {"cpu": "0.5"},
    }
    assert worker_resources({}) == {}


@pytest.mark.parametrize(
    "resources",
    [{"claims": [{"name": "gpu"}]}, {"limits": {"memory": "lots"}}, {"limits": ["cpu"]}, {"requests": {"cpu": "-1"}}],
)
def test_resources_a_pod_would_not_accept_are_refused(resources: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"spec\.dask\.resources"):
        worker_resources(resources)


# --- the DaskCluster -----------------------------------------------------------------------------------------------


def test_dask_cluster_is_named_labelled_and_owned_by_the_run() -> None:
    cluster = build_dask_cluster(RUN, _spec(workers=5), image="registry/worker:1")
    assert (cluster["apiVersion"], cluster["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    meta = cluster["metadata"]
    assert (meta["name"], meta["namespace"]) == ("gdp-2024", "team-a")
    assert meta["ownerReferences"] == [owner_reference(RUN)]
    assert meta["labels"]["training.retrodiction.dev/run"] == "gdp-2024"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "retrodiction-operator"
    assert meta["labels"]["app.kubernetes.io/part-of"] == "retrodiction"
    for role in ("scheduler", "worker"):
        assert cluster["spec"][role]["metadata"]["labels"] == meta["labels"]
    assert cluster["spec"]["worker"]["replicas"] == 5
    assert cluster["spec"]["idleTimeout"] == 0


def test_containers_use_an_explicit_command_and_speak_only_tls() -> None:
    cluster = build_dask_cluster(RUN, _spec(), image="registry/worker:1")
    [scheduler] = _containers(cluster, "scheduler")
    [worker] = _containers(cluster, "worker")
    assert scheduler["command"] == [
        "dask", "scheduler", "--protocol", "tls", "--host", "0.0.0.0", "--port", "8786",
        "--dashboard-address", "0.0.0.0:8787",
    ]  # fmt: skip
    assert worker["command"] == [
        "dask", "worker", "tls://gdp-2024-scheduler.team-a.svc.cluster.local:8786", "--name", "$(DASK_WORKER_NAME)",
        "--host", "0.0.0.0", "--nthreads", "1", "--dashboard-address", "0.0.0.0:8788",
    ]  # fmt: skip
    for container, role in ((scheduler, "SCHEDULER"), (worker, "WORKER")):
        env = {item["name"]: item for item in container["env"]}
        assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"]["value"] == "True"
        assert env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__CERT"]["valueFrom"]["secretKeyRef"] == {
            "name": "gdp-2024-tls",
            "key": "tls.crt",
        }
        assert env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"]["valueFrom"]["secretKeyRef"]["key"] == "ca.crt"
        assert container["args"] == []
        assert container["image"] == "registry/worker:1"


def test_the_image_in_the_spec_wins_over_the_operator_default() -> None:
    cluster = build_dask_cluster(RUN, _spec(image="mine:2"), image="registry/worker:1")
    assert {c["image"] for role in ("scheduler", "worker") for c in _containers(cluster, role)} == {"mine:2"}


def test_without_any_image_the_cluster_is_refused() -> None:
    with pytest.raises(ValueError, match="image"):
        build_dask_cluster(RUN, _spec(), image="")


def test_worker_memory_limit_follows_the_container_limit() -> None:
    cluster = build_dask_cluster(
        RUN, _spec(resources={"limits": {"memory": "2Gi", "cpu": 1}, "requests": {"memory": "1Gi"}}), image="img"
    )
    [worker] = _containers(cluster, "worker")
    assert worker["command"][-2:] == ["--memory-limit", str(2 * 1024**3)]
    assert worker["resources"] == {"limits": {"memory": "2Gi", "cpu": "1"}, "requests": {"memory": "1Gi"}}
    [scheduler] = _containers(cluster, "scheduler")
    assert scheduler["resources"] == {}


def test_without_a_memory_limit_dask_picks_its_own() -> None:
    cluster = build_dask_cluster(RUN, _spec(resources={"requests": {"memory": "1Gi"}}), image="img")
    [worker] = _containers(cluster, "worker")
    assert "--memory-limit" not in worker["command"]


def test_scheduler_is_ready_only_when_its_health_endpoint_answers() -> None:
    cluster = build_dask_cluster(RUN, _spec(), image="img")
    [scheduler] = _containers(cluster, "scheduler")
    probe = scheduler["readinessProbe"]["httpGet"]
    dashboard = next(p for p in scheduler["ports"] if p["name"] == probe["port"])
    assert probe["path"] == "/health"
    assert dashboard["containerPort"] == 8787
    service = cluster["spec"]["scheduler"]["service"]
    assert service["selector"] == {"dask.org/cluster-name": "gdp-2024", "dask.org/component": "scheduler"}
    assert {p["port"] for p in service["ports"]} == {8786, 8787}


def test_pods_run_as_non_root_without_privileges() -> None:
    cluster = build_dask_cluster(RUN, _spec(), image="img")
    for role in ("scheduler", "worker"):
        pod = cluster["spec"][role]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_building_twice_gives_the_same_object_and_shares_no_state() -> None:
    first = build_dask_cluster(RUN, _spec(), image="img")
    second = build_dask_cluster(RUN, _spec(), image="img")
    assert first == second
    first["spec"]["worker"]["spec"]["securityContext"]["runAsUser"] = 0
    first["spec"]["worker"]["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"].clear()
    assert build_dask_cluster(RUN, _spec(), image="img") == second


# --- the DaskCluster against the CRD that ships with dask-kubernetes -----------------------------------------------


@pytest.fixture(scope="module")
def daskcluster_schema() -> jsonschema.Draft7Validator:
    crd = yaml.load(CRD_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(_closed(version["schema"]["openAPIV3Schema"]))


def _closed(schema: Any) -> Any:
    """The schema with unknown fields forbidden wherever it lists properties: the API server would prune them
    silently, which is how a misspelt field goes unnoticed."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in closed or closed.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in closed and not open_ended:
        closed["additionalProperties"] = False
    return closed


def _validate(cluster: Mapping[str, Any], schema: jsonschema.Draft7Validator) -> None:
    # The CRD describes spec (and status); apiVersion, kind and metadata are the API server's own.
    schema.validate({"spec": cluster["spec"]})


@pytest.mark.parametrize(
    "dask",
    [
        {},
        {"workers": 7, "image": "mine:1", "resources": {"limits": {"memory": "3Gi", "cpu": 2}, "requests": {"cpu": 1}}},
    ],
)
def test_dask_cluster_matches_the_daskcluster_crd_schema(
    daskcluster_schema: jsonschema.Draft7Validator, dask: dict[str, Any]
) -> None:
    _validate(build_dask_cluster(RUN, _spec(**dask), image="img"), daskcluster_schema)


def test_the_crd_check_catches_a_field_a_pod_does_not_have(daskcluster_schema: jsonschema.Draft7Validator) -> None:
    cluster = build_dask_cluster(RUN, _spec(), image="img")
    cluster["spec"]["worker"]["spec"]["containers"][0]["cmd"] = ["dask"]
    with pytest.raises(jsonschema.ValidationError, match="cmd"):
        _validate(cluster, daskcluster_schema)


def test_the_crd_check_catches_a_numeric_probe_port(daskcluster_schema: jsonschema.Draft7Validator) -> None:
    cluster = build_dask_cluster(RUN, _spec(), image="img")
    cluster["spec"]["scheduler"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = 8787
    with pytest.raises(jsonschema.ValidationError):
        _validate(cluster, daskcluster_schema)


def test_dask_cluster_is_plain_json() -> None:
    cluster = build_dask_cluster(RUN, _spec(), image="img")
    assert json.loads(json.dumps(cluster)) == cluster
