"""A run's driver and what it may do (controller/driver.py, controller/pods.py): the Job, its ServiceAccount, Role
and RoleBindings, the NetworkPolicy around the run's Dask pods, and the Pod Security every pod of a run passes."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

from retrodiction.api.children import owner_reference
from retrodiction.api.report import DriverExit
from retrodiction.api.training import RetrodictionTrainingSpec, SecretRef
from retrodiction.controller.dask_cluster import build_dask_cluster
from retrodiction.controller.driver import (
    DRIVER_CLUSTER_RULES,
    build_driver_access,
    build_driver_job,
    build_network_policy,
    driver_cluster_role,
)
from retrodiction.controller.pods import (
    CONTAINER_SECURITY_CONTEXT,
    POD_SECURITY_CONTEXT,
    container,
    credentials_env_from,
    pod_spec,
    tls_env,
)
from tests.unit.training_spec import accepted_spec

RUN = {"name": "gdp-2024", "namespace": "team-a", "uid": "0b6a3c1e-1111-2222-3333-444455556666"}
IMAGE = "ghcr.io/retrodiction/worker:0.1.0"
ENV = {
    "RETRODICTION_RUN_UID": RUN["uid"],
    "RETRODICTION_POLICY": '{"maxBatchesPerRun":5}',
    "RETRODICTION_ANONYMOUS": "true",
}
CLUSTER_ROLE = "retrodiction-operator-driver"
RUN_UID_LABEL = "training.retrodiction.dev/run-uid"
COMPONENT_LABEL = "app.kubernetes.io/component"
DRIVER_RBAC_TEMPLATE = Path(__file__).resolve().parents[2] / "charts/retrodiction-operator/templates/_rbac.tpl"
POD_SETTINGS = {
    "imagePullSecrets": [{"name": "registry-pull"}],
    "nodeSelector": {"pool": "batch"},
    "tolerations": [{"key": "batch", "operator": "Equal", "value": "yes", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
            }
        }
    },
    "priorityClassName": "batch-low",
}
CREDENTIALS = {
    "data": {"uri": "s3://bucket/data.parquet", "credentialsSecretRef": {"name": "data-creds"}},
    "output": {"uri": "s3://bucket/out/", "credentialsSecretRef": {"name": "output-creds"}},
}


def _job(spec: RetrodictionTrainingSpec | None = None, **kwargs: Any) -> dict[str, Any]:
    return build_driver_job(RUN, spec or accepted_spec(), image=kwargs.pop("image", IMAGE), env=ENV, **kwargs)


def _pod(job: Mapping[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def _driver(job: Mapping[str, Any]) -> dict[str, Any]:
    [driver] = _pod(job)["containers"]
    assert driver["name"] == "driver"
    return dict(driver)


def _env(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def _all_pod_specs(spec: RetrodictionTrainingSpec) -> dict[str, dict[str, Any]]:
    """Every pod spec a run makes: its driver Job's, and its DaskCluster's scheduler and workers'."""
    cluster = build_dask_cluster(RUN, spec, image=IMAGE)
    return {
        "driver": _pod(_job(spec)),
        "scheduler": cluster["spec"]["scheduler"]["spec"],
        "worker": cluster["spec"]["worker"]["spec"],
    }


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- Pod Security `restricted`, as the admission controller checks it ---------------------------------------------

_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_problems(pod: Mapping[str, Any]) -> list[str]:
    """What Pod Security Standards `restricted` (and so `baseline`) would refuse in a pod spec; empty when none."""
    pod_context = pod.get("securityContext") or {}
    containers = [*(pod.get("initContainers") or []), *pod["containers"]]
    return [
        *_pod_problems(pod, pod_context),
        *(problem for item in containers for problem in _container_problems(item, pod_context)),
    ]


def _pod_problems(pod: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    problems = [f"pod: {host}" for host in ("hostNetwork", "hostPID", "hostIPC") if pod.get(host)]
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds - _RESTRICTED_VOLUMES)}")
    if pod_context.get("runAsUser") == 0:
        problems.append("pod: runAsUser 0")
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"pod: seccomp {pod_seccomp}")
    return problems


def _container_problems(item: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    """A container's own problems, with the pod's securityContext as the default of runAsNonRoot and seccomp."""
    name = item["name"]
    context = item.get("securityContext") or {}
    problems = _privilege_problems(context) + _identity_problems(context, pod_context)
    if any(port.get("hostPort") for port in item.get("ports") or []):
        problems.append("hostPort")
    return [f"{name}: {problem}" for problem in problems]


def _privilege_problems(context: Mapping[str, Any]) -> list[str]:
    problems = []
    if context.get("privileged"):
        problems.append("privileged")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append("capabilities do not drop ALL")
    if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
        problems.append("capabilities added")
    return problems


def _identity_problems(context: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    problems = []
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        problems.append("runAsNonRoot is not true")
    if context.get("runAsUser") == 0:
        problems.append("runAsUser 0")
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    seccomp = (context.get("seccompProfile") or {}).get("type", pod_seccomp)
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(f"seccomp {seccomp}")
    return problems


def test_the_pod_security_check_catches_what_restricted_refuses() -> None:
    good = pod_spec([container("c", IMAGE, ["true"])], accepted_spec().pods)
    assert restricted_problems(good) == []
    bad = pod_spec([container("c", IMAGE, ["true"])], accepted_spec().pods, hostNetwork=True)
    bad["securityContext"] = {"runAsUser": 0}
    bad["containers"][0]["securityContext"] = {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    bad["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
    assert restricted_problems(bad) == [
        "pod: hostNetwork",
        "volume root: ['hostPath']",
        "pod: runAsUser 0",
        "c: privileged",
        "c: allowPrivilegeEscalation is not false",
        "c: capabilities do not drop ALL",
        "c: capabilities added",
        "c: runAsNonRoot is not true",
        "c: seccomp None",
    ]


@pytest.mark.parametrize("mode", ["kubernetes", "local"])
@pytest.mark.parametrize("pod", ["driver", "scheduler", "worker"])
def test_every_pod_of_a_run_passes_pod_security_restricted(mode: str, pod: str) -> None:
    spec = accepted_spec(dask={"mode": mode}, pods=POD_SETTINGS, **CREDENTIALS)
    assert restricted_problems(_all_pod_specs(spec)[pod]) == []


@pytest.mark.parametrize("pod", ["driver", "scheduler", "worker"])
def test_every_pod_runs_as_non_root_with_the_runtime_default_seccomp_profile(pod: str) -> None:
    spec = _all_pod_specs(accepted_spec())[pod]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["runAsGroup"] == 10001
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["enableServiceLinks"] is False
    for item in [*spec.get("initContainers", []), *spec["containers"]]:
        context = item["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["privileged"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsNonRoot"] is True


def test_the_driver_init_container_passes_pod_security_restricted_too() -> None:
    [tls] = _pod(_job())["initContainers"]
    assert tls["securityContext"] == dict(CONTAINER_SECURITY_CONTEXT)


def test_only_the_driver_may_call_the_kubernetes_api() -> None:
    pods = _all_pod_specs(accepted_spec())
    assert pods["driver"]["automountServiceAccountToken"] is True
    assert pods["scheduler"]["automountServiceAccountToken"] is False
    assert pods["worker"]["automountServiceAccountToken"] is False


# --- the Job ------------------------------------------------------------------------------------------------------


def test_the_job_is_named_after_the_run_and_owned_by_it() -> None:
    job = _job()
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    meta = job["metadata"]
    assert (meta["name"], meta["namespace"]) == ("gdp-2024-driver", "team-a")
    assert meta["ownerReferences"] == [owner_reference(RUN)]
    assert meta["labels"][COMPONENT_LABEL] == "driver"
    assert meta["labels"][RUN_UID_LABEL] == RUN["uid"]


def test_a_long_run_name_still_gives_a_job_name_that_fits_a_label() -> None:
    run = {**RUN, "name": "a" * 200}
    job = build_driver_job(run, accepted_spec(), image=IMAGE, env=ENV)
    name = job["metadata"]["name"]
    assert len(name) <= 63
    assert name.endswith("-driver")
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)


def test_the_job_pod_is_labelled_as_the_runs_driver() -> None:
    labels = _job()["spec"]["template"]["metadata"]["labels"]
    assert labels[COMPONENT_LABEL] == "driver"
    assert labels[RUN_UID_LABEL] == RUN["uid"]
    assert labels["training.retrodiction.dev/run"] == "gdp-2024"


def test_in_kubernetes_mode_the_driver_trains_its_run_against_the_runs_tls_scheduler() -> None:
    assert _driver(_job(accepted_spec(dask={"mode": "kubernetes"})))["command"] == [
        "retrodiction", "train", "rt/gdp-2024", "--namespace", "team-a",
        "--scheduler", "tls://gdp-2024-scheduler.team-a.svc.cluster.local:8786",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "dask", [{"mode": "local"}, {"mode": "address", "address": "tls://tenant-scheduler:8786"}], ids=["local", "address"]
)
def test_outside_kubernetes_mode_the_driver_is_given_no_scheduler(dask: dict[str, Any]) -> None:
    assert _driver(_job(accepted_spec(dask=dask)))["command"] == [
        "retrodiction",
        "train",
        "rt/gdp-2024",
        "--namespace",
        "team-a",
    ]


def test_in_kubernetes_mode_an_init_container_makes_the_runs_certificates() -> None:
    pod = _pod(_job(accepted_spec(dask={"mode": "kubernetes"})))
    [tls] = pod["initContainers"]
    assert tls["name"] == "tls"
    assert tls["image"] == IMAGE
    assert tls["command"] == ["retrodiction", "tls", "rt/gdp-2024", "--namespace", "team-a"]
    # It learns only which run it is: no policy, no credentials.
    assert tls["env"] == [{"name": "RETRODICTION_RUN_UID", "value": RUN["uid"]}]
    assert not tls.get("envFrom")


@pytest.mark.parametrize(
    "dask", [{"mode": "local"}, {"mode": "address", "address": "tls://tenant-scheduler:8786"}], ids=["local", "address"]
)
def test_outside_kubernetes_mode_there_is_no_init_container(dask: dict[str, Any]) -> None:
    assert "initContainers" not in _pod(_job(accepted_spec(dask=dask)))


def test_the_job_fails_at_once_on_the_drivers_permanent_exit_codes_and_ignores_disruptions() -> None:
    assert _job()["spec"]["podFailurePolicy"] == {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "driver", "operator": "In", "values": [1, 2, 3]},
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        ]
    }


def test_a_crashed_driver_is_retried_by_the_job_not_failed_at_once() -> None:
    [fail_job, _] = _job()["spec"]["podFailurePolicy"]["rules"]
    assert DriverExit.CRASHED not in fail_job["onExitCodes"]["values"]
    assert fail_job["onExitCodes"]["values"] == list(DriverExit.PERMANENT)


def test_the_job_pod_never_restarts_in_place_and_the_job_retries_a_few_times() -> None:
    job = _job()
    assert _pod(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 4
    assert _pod(job)["terminationGracePeriodSeconds"] == 30


@pytest.mark.parametrize("suspend", [True, False])
def test_the_job_is_suspended_exactly_when_the_run_is(suspend: bool) -> None:
    assert _job(accepted_spec(execution={"suspend": suspend}))["spec"]["suspend"] is suspend


def test_without_a_deadline_the_job_has_none() -> None:
    assert "activeDeadlineSeconds" not in _job()["spec"]


def test_the_jobs_deadline_is_the_runs_plus_a_minute_of_grace() -> None:
    assert _job(deadline_seconds=600)["spec"]["activeDeadlineSeconds"] == 660


@pytest.mark.parametrize("left", [0, -30])
def test_a_deadline_already_passed_still_gives_the_driver_its_grace(left: int) -> None:
    assert _job(deadline_seconds=left)["spec"]["activeDeadlineSeconds"] == 61


def test_the_driver_runs_as_its_own_service_account() -> None:
    assert _pod(_job())["serviceAccountName"] == "gdp-2024-driver"


def test_the_driver_gets_the_operators_settings_its_metrics_port_and_bind_address() -> None:
    driver = _driver(_job(accepted_spec(dask={"mode": "local"})))
    assert driver["env"] == [
        {"name": "RETRODICTION_ANONYMOUS", "value": "true"},
        {"name": "RETRODICTION_POLICY", "value": '{"maxBatchesPerRun":5}'},
        {"name": "RETRODICTION_RUN_UID", "value": RUN["uid"]},
        {"name": "RETRODICTION_DRIVER_METRICS_PORT", "value": "9090"},
        {"name": "RETRODICTION_BIND_ADDRESS", "value": "0.0.0.0"},
    ]
    assert driver["ports"] == [{"name": "http-metrics", "containerPort": 9090, "protocol": "TCP"}]


def test_in_kubernetes_mode_the_driver_gets_the_runs_client_certificate() -> None:
    env = _env(_driver(_job(accepted_spec(dask={"mode": "kubernetes"}))))
    assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == {
        "name": "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION",
        "value": "True",
    }
    for variable, key in (
        ("DASK_DISTRIBUTED__COMM__TLS__CA_FILE", "ca.crt"),
        ("DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT", "tls.crt"),
        ("DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY", "tls.key"),
    ):
        assert env[variable]["valueFrom"] == {"secretKeyRef": {"name": "gdp-2024-tls", "key": key}}
    assert "RETRODICTION_DRIVER_METRICS_PORT" in env


@pytest.mark.parametrize(
    "dask", [{"mode": "local"}, {"mode": "address", "address": "tls://tenant-scheduler:8786"}], ids=["local", "address"]
)
def test_outside_kubernetes_mode_the_driver_gets_no_tls_environment(dask: dict[str, Any]) -> None:
    names = set(_env(_driver(_job(accepted_spec(dask=dask)))))
    assert not {name for name in names if name.startswith("DASK_")}


def test_without_credentials_secrets_the_driver_has_no_env_from() -> None:
    assert _driver(_job())["envFrom"] == []


def test_the_driver_gets_each_named_credentials_secret_under_its_own_prefix_optionally() -> None:
    assert _driver(_job(accepted_spec(**CREDENTIALS)))["envFrom"] == [
        {"prefix": "RETRODICTION_DATA_CREDENTIALS_", "secretRef": {"name": "data-creds", "optional": True}},
        {"prefix": "RETRODICTION_OUTPUT_CREDENTIALS_", "secretRef": {"name": "output-creds", "optional": True}},
    ]


def test_only_the_output_credentials_reach_the_driver_when_only_they_are_named() -> None:
    spec = accepted_spec(output=CREDENTIALS["output"])
    assert _driver(_job(spec))["envFrom"] == [
        {"prefix": "RETRODICTION_OUTPUT_CREDENTIALS_", "secretRef": {"name": "output-creds", "optional": True}}
    ]


def test_credentials_env_from_is_empty_without_a_secret() -> None:
    assert credentials_env_from(None, "P_") == []
    assert credentials_env_from(SecretRef(name="s"), "P_") == [
        {"prefix": "P_", "secretRef": {"name": "s", "optional": True}}
    ]


def test_the_operators_image_runs_the_driver_without_a_spec_image() -> None:
    pod = _pod(_job())
    assert {c["image"] for c in [*pod["containers"], *pod["initContainers"]]} == {IMAGE}


def test_the_specs_image_wins_over_the_operators_default() -> None:
    pod = _pod(_job(accepted_spec(dask={"image": "registry.example.com/team/models:1"})))
    assert {c["image"] for c in [*pod["containers"], *pod["initContainers"]]} == {"registry.example.com/team/models:1"}


def test_the_drivers_resources_are_normalized_to_strings() -> None:
    spec = accepted_spec(driver={"resources": {"limits": {"memory": "2Gi", "cpu": 1}, "requests": {"cpu": "500m"}}})
    assert _driver(_job(spec))["resources"] == {"limits": {"memory": "2Gi", "cpu": "1"}, "requests": {"cpu": "500m"}}


def test_the_driver_without_resources_asks_for_none() -> None:
    assert _driver(_job())["resources"] == {}


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"limits": {"memory": "lots"}}, r"spec\.driver\.resources\.limits\.memory: not a quantity"),
        ({"requests": {"cpu": "-1"}}, r"spec\.driver\.resources\.requests\.cpu: must not be negative"),
        ({"claims": [{"name": "gpu"}]}, r"spec\.driver\.resources supports limits and requests"),
        ({"limits": ["2Gi"]}, r"spec\.driver\.resources\.limits must be a mapping"),
        ({"limits": {"cpu": True}}, r"spec\.driver\.resources\.limits\.cpu"),
    ],
)
def test_driver_resources_a_pod_would_refuse_raise_naming_the_field(resources: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _job(accepted_spec(driver={"resources": resources}))


def test_the_job_needs_the_runs_name_namespace_and_uid() -> None:
    for missing in ("name", "namespace", "uid"):
        with pytest.raises(ValueError, match=missing):
            build_driver_job({k: v for k, v in RUN.items() if k != missing}, accepted_spec(), image=IMAGE, env=ENV)


def _ids(value: Any) -> Iterator[int]:
    if isinstance(value, dict | list):
        yield id(value)
        for item in value.values() if isinstance(value, dict) else value:
            yield from _ids(item)


def test_building_the_job_twice_gives_equal_objects_that_share_no_state() -> None:
    spec = accepted_spec(pods=POD_SETTINGS, driver={"resources": {"limits": {"memory": "1Gi"}}}, **CREDENTIALS)
    first, second = _job(spec), _job(spec)
    assert first == second
    assert not set(_ids(first)) & set(_ids(second))
    assert not set(_ids(first)) & set(_ids([dict(POD_SECURITY_CONTEXT), dict(CONTAINER_SECURITY_CONTEXT)]))


# --- pod settings and Secrets, on every pod of the run ------------------------------------------------------------


@pytest.mark.parametrize("pod", ["driver", "scheduler", "worker"])
def test_the_runs_pod_settings_reach_every_pod(pod: str) -> None:
    spec = _all_pod_specs(accepted_spec(pods=POD_SETTINGS))[pod]
    assert spec["imagePullSecrets"] == [{"name": "registry-pull"}]
    assert spec["nodeSelector"] == {"pool": "batch"}
    assert spec["tolerations"] == [{"key": "batch", "operator": "Equal", "value": "yes", "effect": "NoSchedule"}]
    assert spec["affinity"] == POD_SETTINGS["affinity"]
    assert spec["priorityClassName"] == "batch-low"


@pytest.mark.parametrize("pod", ["driver", "scheduler", "worker"])
def test_without_pod_settings_no_scheduling_field_is_set(pod: str) -> None:
    spec = _all_pod_specs(accepted_spec())[pod]
    assert not {"imagePullSecrets", "nodeSelector", "tolerations", "affinity", "priorityClassName"} & set(spec)


def test_pod_settings_are_copied_not_shared_with_the_spec() -> None:
    spec = accepted_spec(pods=POD_SETTINGS)
    pod = _pod(_job(spec))
    pod["affinity"]["nodeAffinity"].clear()
    pod["nodeSelector"]["pool"] = "other"
    assert spec.pods.affinity == POD_SETTINGS["affinity"]
    assert spec.pods.node_selector == {"pool": "batch"}


def test_workers_read_the_data_with_its_credentials_and_never_get_the_outputs() -> None:
    cluster = build_dask_cluster(RUN, accepted_spec(**CREDENTIALS), image=IMAGE)
    [worker] = cluster["spec"]["worker"]["spec"]["containers"]
    assert worker["envFrom"] == [
        {"prefix": "RETRODICTION_DATA_CREDENTIALS_", "secretRef": {"name": "data-creds", "optional": True}}
    ]
    [scheduler] = cluster["spec"]["scheduler"]["spec"]["containers"]
    assert not scheduler.get("envFrom")


def test_the_scheduler_and_workers_get_their_own_role_of_the_runs_certificate() -> None:
    cluster = build_dask_cluster(RUN, accepted_spec(), image=IMAGE)
    for role in ("scheduler", "worker"):
        [item] = cluster["spec"][role]["spec"]["containers"]
        assert item["env"] == tls_env("gdp-2024", role)
        key = _env(item)[f"DASK_DISTRIBUTED__COMM__TLS__{role.upper()}__KEY"]
        assert key["valueFrom"] == {"secretKeyRef": {"name": "gdp-2024-tls", "key": "tls.key"}}


def test_tls_env_refuses_an_unknown_role() -> None:
    with pytest.raises(ValueError, match="unknown Dask role 'admin'"):
        tls_env("gdp-2024", "admin")


def _secret_references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, Secret name) for every Secret a manifest's containers or volumes name; image pull Secrets are the
    kubelet's, not a container's, and are left out."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_references(item, f"{path}[{index}]")
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        where = f"{path}.{key}"
        if key == "imagePullSecrets":
            continue
        if key in ("secretKeyRef", "secretRef") and isinstance(item, dict):
            yield where, item["name"]
        elif key == "secret" and isinstance(item, dict):
            yield where, item.get("secretName") or item["name"]
        else:
            yield from _secret_references(item, where)


def test_the_secret_reference_finder_finds_env_env_from_and_volumes() -> None:
    pod = {
        "containers": [
            {
                "env": [{"valueFrom": {"secretKeyRef": {"name": "a", "key": "k"}}}],
                "envFrom": [{"secretRef": {"name": "b"}}],
            }
        ],
        "volumes": [
            {"name": "v", "secret": {"secretName": "c"}},
            {"projected": {"sources": [{"secret": {"name": "d"}}]}},
        ],
        "imagePullSecrets": [{"name": "e"}],
    }
    assert sorted(name for _, name in _secret_references(pod)) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("mode", ["kubernetes", "local"])
def test_no_pod_of_a_run_references_a_secret_but_its_tls_and_its_named_credentials(mode: str) -> None:
    spec = accepted_spec(dask={"mode": mode}, pods=POD_SETTINGS, **CREDENTIALS)
    manifests = [_job(spec), build_dask_cluster(RUN, spec, image=IMAGE)]
    names = {name for manifest in manifests for _, name in _secret_references(manifest)}
    assert names == {"gdp-2024-tls", "data-creds", "output-creds"}
    for manifest in manifests:
        for pod in _pod_specs_in(manifest):
            assert not pod.get("volumes")
            assert not any(item.get("volumeMounts") for item in [*pod.get("initContainers", []), *pod["containers"]])


def _pod_specs_in(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    if manifest["kind"] == "Job":
        return [_pod(manifest)]
    return [manifest["spec"]["scheduler"]["spec"], manifest["spec"]["worker"]["spec"]]


def test_in_local_mode_without_credentials_the_driver_references_no_secret_at_all() -> None:
    assert list(_secret_references(_job(accepted_spec(dask={"mode": "local"})))) == []


# --- the driver's ServiceAccount, Role and RoleBindings -----------------------------------------------------------


def _access() -> dict[tuple[str, str], dict[str, Any]]:
    objects = build_driver_access(RUN, CLUSTER_ROLE)
    assert len(objects) == 4
    return {(item["kind"], item["metadata"]["name"]): item for item in objects}


def test_driver_access_is_a_service_account_a_role_and_two_role_bindings() -> None:
    assert sorted(_access()) == [
        ("Role", "gdp-2024-driver"),
        ("RoleBinding", "gdp-2024-driver"),
        ("RoleBinding", "gdp-2024-driver-shared"),
        ("ServiceAccount", "gdp-2024-driver"),
    ]


def test_every_access_object_is_in_the_runs_namespace_and_owned_by_it() -> None:
    for item in _access().values():
        meta = item["metadata"]
        assert meta["namespace"] == "team-a"
        assert meta["ownerReferences"] == [owner_reference(RUN)]
        assert meta["labels"][COMPONENT_LABEL] == "driver"
        assert meta["labels"][RUN_UID_LABEL] == RUN["uid"]


def test_the_role_lets_the_driver_only_get_its_own_run() -> None:
    role = _access()[("Role", "gdp-2024-driver")]
    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert role["rules"] == [
        {
            "apiGroups": ["training.retrodiction.dev"],
            "resources": ["retrodictiontrainings"],
            "resourceNames": ["gdp-2024"],
            "verbs": ["get"],
        }
    ]


def test_the_role_binding_binds_the_role_to_the_drivers_service_account() -> None:
    binding = _access()[("RoleBinding", "gdp-2024-driver")]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gdp-2024-driver"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gdp-2024-driver", "namespace": "team-a"}]


def test_the_shared_binding_grants_the_charts_cluster_role_in_the_runs_namespace_only() -> None:
    binding = _access()[("RoleBinding", "gdp-2024-driver-shared")]
    # A RoleBinding (not a ClusterRoleBinding): the ClusterRole's rules hold in this namespace alone.
    assert binding["kind"] == "RoleBinding"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gdp-2024-driver", "namespace": "team-a"}]


def test_the_job_runs_as_the_service_account_the_bindings_name() -> None:
    subjects = {
        subject["name"] for item in _access().values() if item["kind"] == "RoleBinding" for subject in item["subjects"]
    }
    assert subjects == {_pod(_job())["serviceAccountName"]}


# --- the chart's driver ClusterRole -------------------------------------------------------------------------------


def test_the_driver_cluster_rules_grant_nothing_on_secrets_but_create() -> None:
    secrets = [rule for rule in DRIVER_CLUSTER_RULES if "secrets" in rule["resources"]]
    assert secrets == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]


def test_the_driver_cluster_rules_have_no_wildcard() -> None:
    for rule in DRIVER_CLUSTER_RULES:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
        assert not any("*" in resource for resource in rule["resources"]), rule


def test_the_driver_cluster_rules_grant_only_configmaps_and_secret_creation() -> None:
    assert [(rule["resources"], sorted(rule["verbs"])) for rule in DRIVER_CLUSTER_RULES] == [
        (["configmaps"], ["create", "delete", "get", "list", "update"]),
        (["secrets"], ["create"]),
    ]
    assert all(rule["apiGroups"] == [""] for rule in DRIVER_CLUSTER_RULES)
    assert not any(
        {"escalate", "bind", "impersonate", "patch", "watch"} & set(r["verbs"]) for r in DRIVER_CLUSTER_RULES
    )


def test_the_driver_cluster_role_holds_exactly_the_driver_rules() -> None:
    role = driver_cluster_role("x-driver")
    assert role == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "x-driver"},
        "rules": [dict(rule) for rule in DRIVER_CLUSTER_RULES],
    }


def test_the_driver_cluster_rules_are_the_charts_driver_rules() -> None:
    template = DRIVER_RBAC_TEMPLATE.read_text()
    match = re.search(r'\{\{- define "retrodiction-operator\.driverRules" \}\}\n(.*?)\{\{- end \}\}', template, re.S)
    assert match, f"no driverRules in {DRIVER_RBAC_TEMPLATE}"
    assert yaml.safe_load(match.group(1)) == [dict(rule) for rule in DRIVER_CLUSTER_RULES]


def test_the_driver_cluster_role_shares_no_list_with_the_driver_rules() -> None:
    role = driver_cluster_role("x-driver")
    for copied, rule in zip(role["rules"], DRIVER_CLUSTER_RULES, strict=True):
        for field in ("apiGroups", "resources", "verbs"):
            assert copied[field] is not rule[field], f"the role's {field} is the constant's own list"


# --- the NetworkPolicy --------------------------------------------------------------------------------------------


def test_the_network_policy_is_named_after_the_run_and_owned_by_it() -> None:
    policy = build_network_policy(RUN)
    assert (policy["apiVersion"], policy["kind"]) == ("networking.k8s.io/v1", "NetworkPolicy")
    assert (policy["metadata"]["name"], policy["metadata"]["namespace"]) == ("gdp-2024-dask", "team-a")
    assert policy["metadata"]["ownerReferences"] == [owner_reference(RUN)]
    assert policy["metadata"]["labels"][COMPONENT_LABEL] == "network-policy"


def test_the_network_policy_admits_only_the_runs_own_pods_to_its_dask_pods() -> None:
    assert build_network_policy(RUN)["spec"] == {
        "podSelector": {"matchLabels": {RUN_UID_LABEL: RUN["uid"], COMPONENT_LABEL: "dask-cluster"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {RUN_UID_LABEL: RUN["uid"]}}}]}],
    }


def test_the_network_policy_selects_the_runs_dask_pods_and_admits_its_driver() -> None:
    spec = build_network_policy(RUN)["spec"]
    cluster = build_dask_cluster(RUN, accepted_spec(), image=IMAGE)
    driver_labels = _job()["spec"]["template"]["metadata"]["labels"]
    peers = spec["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    for role in ("scheduler", "worker"):
        labels = cluster["spec"][role]["metadata"]["labels"]
        assert _selects(spec["podSelector"]["matchLabels"], labels)
        assert _selects(peers, labels)
    assert _selects(peers, driver_labels)
    assert not _selects(spec["podSelector"]["matchLabels"], driver_labels)


def test_the_network_policy_admits_no_pod_of_another_run() -> None:
    other = {**RUN, "uid": "ffffffff-1111-2222-3333-444455556666"}
    spec = build_network_policy(RUN)["spec"]
    other_labels = build_dask_cluster(other, accepted_spec(), image=IMAGE)["spec"]["worker"]["metadata"]["labels"]
    other_driver = build_driver_job(other, accepted_spec(), image=IMAGE, env=ENV)["spec"]["template"]["metadata"][
        "labels"
    ]
    peers = spec["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert not _selects(peers, other_labels)
    assert not _selects(peers, other_driver)
    assert not _selects(spec["podSelector"]["matchLabels"], other_labels)


# --- every manifest uses only fields its Kubernetes API has ------------------------------------------------------

_LIST = re.compile(r"^(?:list|List)\[(.+)\]$")
_DICT = re.compile(r"^(?:dict\(str, (.+)\)|Dict\[str, (.+)\])$")
_LEAVES = {"str", "int", "bool", "float", "object", "datetime", "date"}


def _unknown_fields(value: Any, type_name: str, path: str) -> Iterator[str]:
    if (match := _LIST.match(type_name)) is not None:
        for index, item in enumerate(value):
            yield from _unknown_fields(item, match.group(1), f"{path}[{index}]")
        return
    if (match := _DICT.match(type_name)) is not None:
        for key, item in value.items():
            yield from _unknown_fields(item, match.group(1) or match.group(2), f"{path}.{key}")
        return
    if type_name in _LEAVES:
        return
    model = getattr(kubernetes.client, type_name)
    fields = {json_name: model.openapi_types[attr] for attr, json_name in model.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            yield f"{path}.{key}"
        else:
            yield from _unknown_fields(item, fields[key], f"{path}.{key}")


def test_the_field_check_catches_a_misspelt_field() -> None:
    job = _job()
    _pod(job)["containers"][0]["securityContext"]["runAsNonroot"] = True
    assert list(_unknown_fields(job, "V1Job", "job")) == [
        "job.spec.template.spec.containers[0].securityContext.runAsNonroot"
    ]


@pytest.mark.parametrize("mode", ["kubernetes", "local"])
def test_the_job_uses_only_fields_of_the_batch_v1_job_api(mode: str) -> None:
    job = _job(accepted_spec(dask={"mode": mode}, pods=POD_SETTINGS, **CREDENTIALS), deadline_seconds=60)
    assert list(_unknown_fields(job, "V1Job", "job")) == []


def test_the_access_objects_and_network_policy_use_only_fields_of_their_apis() -> None:
    types = {
        "ServiceAccount": "V1ServiceAccount",
        "Role": "V1Role",
        "RoleBinding": "V1RoleBinding",
        "ClusterRole": "V1ClusterRole",
        "NetworkPolicy": "V1NetworkPolicy",
    }
    objects = [*build_driver_access(RUN, CLUSTER_ROLE), build_network_policy(RUN), driver_cluster_role("x")]
    for item in objects:
        assert list(_unknown_fields(item, types[item["kind"]], item["kind"])) == []


def test_the_dask_pod_specs_use_only_fields_of_a_pod_spec() -> None:
    for role, pod in _all_pod_specs(accepted_spec(pods=POD_SETTINGS, **CREDENTIALS)).items():
        assert list(_unknown_fields(pod, "V1PodSpec", role)) == []
