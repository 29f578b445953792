"""The Helm chart installed into the real API server: the operator then runs as the chart's Deployment (its pod
run by the node stand-in) with the chart's ServiceAccount token, and completes runs with exactly the permissions
the chart grants. The API server's audit log is the witness: no request of the operator is refused, and every
rule the chart grants is used. Then `helm upgrade` with a changed CRD, and `helm uninstall`."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from retrodiction.controller.schedule_runs import run_name
from retrodiction.identity import GROUP, TRIGGER_ANNOTATION, VERSION
from retrodiction.kube_client import as_dict
from retrodiction_harness.chart import adopt_existing_crds, helm, prepared_chart
from retrodiction_harness.cluster import Kube, create_namespace, delete_namespace
from retrodiction_harness.crds import apply_project_crds
from retrodiction_harness.node import NodeStandIn
from retrodiction_harness.waiting import eventually
from tests.e2e.runs import (
    ON_DASKCLUSTER,
    PLURAL,
    api_message,
    cli_results,
    custom,
    get_run,
    listed_items,
    name_of,
    needs_pod_addresses,
    run_exists,
    s3_secret,
    training,
    wait_for_phase,
    weekly_co2_run,
)
from tests.results import assert_same_results
from tests.s3 import S3Server

pytestmark = needs_pod_addresses

RELEASE = "retro"
FULLNAME = f"{RELEASE}-retrodiction-operator"
TRAININGS_CRD = f"{PLURAL}.{GROUP}"
CHART_CRDS = (
    TRAININGS_CRD,
    f"retrodictionschedules.{GROUP}",
    "clusterkopfpeerings.kopf.dev",
    "kopfpeerings.kopf.dev",
)
# Two replicas, one working and one standing by: the peering rules are then used (and checked) too.
STANDBY = ("peering.enabled=true", "replicaCount=2")
# Rules the audit log cannot show being used, each with the reason it is still needed.
NOT_REQUESTED_BUT_CHECKED = {
    # OwnerReferencesPermissionEnforcement checks them when a child with blockOwnerDeletion is created; they are
    # never a request of their own. Without them every DaskCluster, ConfigMap and scheduled run is refused.
    (GROUP, "retrodictiontrainings/finalizers", "update"),
    (GROUP, "retrodictionschedules/finalizers", "update"),
    # RBAC checks it when the operator binds the driver ClusterRole in a run's namespace.
    ("rbac.authorization.k8s.io", "clusterroles", "bind"),
}
DRIVER_CLUSTER_ROLE = f"{FULLNAME}-driver"


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared_chart(tmp_path_factory.mktemp("chart"))


@pytest.fixture
def release(kube: Kube, namespace: str) -> Iterator[str]:
    """The release's namespace; whatever a test leaves installed is uninstalled, so the next install starts clean."""
    yield namespace
    helm("uninstall", RELEASE, "--namespace", namespace, "--wait", "--ignore-not-found", kubeconfig=kube.kubeconfig)


def operator_log(kube: Kube, node: NodeStandIn | None, namespace: str) -> str:
    """The tail of each operator pod's log (the node stand-in keeps them), for a test that timed out."""
    selector = f"app.kubernetes.io/instance={RELEASE}"
    pods = client.CoreV1Api(kube.api).list_namespaced_pod(namespace, label_selector=selector).items
    if node is None or not pods:
        return "(no operator pod)"
    tails = []
    for pod in pods:
        path = node.log_path(namespace, name_of(pod), "operator")
        lines = path.read_text(errors="replace").splitlines() if path.exists() else [f"(no log at {path})"]
        text = [line for line in lines if not line.startswith("INFO:distributed.")][-80:]  # Dask is chatty
        tails.append(f"--- {name_of(pod)}\n" + "\n".join(text))
    return "\n".join(tails)


@pytest.fixture
def runs_namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    name = create_namespace(kube.api, f"runs-{request.node.name}")
    yield name
    delete_namespace(kube.api, name)


def install(kube: Kube, chart: Path, namespace: str, *values: str) -> str:
    adopt_existing_crds(kube.api, CHART_CRDS, RELEASE, namespace)
    args = [arg for value in values for arg in ("--set", value)]
    result = helm(
        "install", RELEASE, str(chart), "--namespace", namespace, "--wait", "--timeout", "180s", *args,
        kubeconfig=kube.kubeconfig,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


Rule = tuple[str, str, str]


def _flatten(rules: list[dict[str, Any]]) -> set[Rule]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def granted(kube: Kube, namespace: str) -> tuple[set[Rule], set[Rule]]:
    """(apiGroup, resource, verb) of every rule in the release's Roles and ClusterRoles: the operator's, and the
    drivers' (the driver ClusterRole, plus the Role each run gets to read itself)."""
    manifest = helm("get", "manifest", RELEASE, "--namespace", namespace, kubeconfig=kube.kubeconfig)
    assert manifest.returncode == 0, manifest.stderr
    roles = [doc for doc in yaml.safe_load_all(manifest.stdout) if doc and doc["kind"] in ("Role", "ClusterRole")]
    driver = [rule for doc in roles if doc["metadata"]["name"] == DRIVER_CLUSTER_ROLE for rule in doc["rules"]]
    operator = [rule for doc in roles if doc["metadata"]["name"] != DRIVER_CLUSTER_ROLE for rule in doc["rules"]]
    own_run = {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get"]}
    return _flatten(operator), _flatten([*driver, own_run])


def _is_driver(runs_namespace: str) -> Callable[[str], bool]:
    prefix = f"system:serviceaccount:{runs_namespace}:"
    return lambda user: user.startswith(prefix) and user.endswith("-driver")


def requested(
    kube: Kube, user: str | Callable[[str], bool], who: str
) -> tuple[set[tuple[str, str, str]], list[dict[str, Any]]]:
    """What `user` (the operator, or every run's driver) asked the API server for, and what it refused for good.

    A request refused once and then granted on a retry is not a missing permission: right after a CRD is installed
    the API server's admission (OwnerReferencesPermissionEnforcement) may not map its kind yet for a few seconds.
    A missing permission is refused on every try."""
    assert kube.control_plane is not None
    events = kube.control_plane.audit_events(user)
    assert events, f"no request of the {who} in the audit log"
    used: set[tuple[str, str, str]] = set()
    refused: dict[tuple[str, ...], dict[str, Any]] = {}
    for event in events:  # in the order the API server logged them
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        rule = (ref.get("apiGroup", ""), resource, event["verb"])
        request = (*rule, ref.get("namespace", ""), ref.get("name", ""))
        if event.get("responseStatus", {}).get("code") == 403:
            refused[request] = event
        else:
            used.add(rule)
            refused.pop(request, None)
    return used, list(refused.values())


@dataclass(frozen=True)
class Installation:
    """What a test of the installed chart works with: the cluster, its node stand-in (which keeps the operator pods'
    logs), the release's namespace, the runs' namespace and the S3 server the runs write to."""

    kube: Kube
    node: NodeStandIn | None
    release: str
    runs_namespace: str
    s3_server: S3Server

    def operator_log(self) -> str:
        return operator_log(self.kube, self.node, self.release)


@pytest.fixture
def installation(
    kube: Kube, node: NodeStandIn | None, release: str, runs_namespace: str, s3_server: S3Server
) -> Installation:
    return Installation(kube, node, release, runs_namespace, s3_server)


@pytest.mark.usefixtures("dask_controller")
@pytest.mark.parametrize("standby", [False, True], ids=["one-replica", "standby"])
@pytest.mark.parametrize("scope", ["cluster", "namespaced"])
def test_the_installed_operator_completes_runs_with_exactly_the_permissions_its_chart_grants(
    installation: Installation, chart: Path, scope: str, standby: bool
) -> None:
    kube, release, runs_namespace = installation.kube, installation.release, installation.runs_namespace
    rbac = ["rbac.cluster=false", f"watchNamespaces={{{runs_namespace}}}"] if scope == "namespaced" else []
    rbac += list(STANDBY) if standby else []
    notes = install(
        kube,
        chart,
        release,
        "operator.statusIntervalSeconds=1",
        *rbac,
    )
    assert "kubectl apply" in notes and "kubectl get rt" in notes

    assert_the_admission_policy_refuses_a_file_run(kube, runs_namespace)
    on_cluster, not_owned = apply_runs(installation)
    # The operator's pods replaced mid-run: the new ones adopt the running runs' children (what `get` is for).
    for name in ("on-cluster", "in-driver"):
        wait_for_phase(kube, runs_namespace, name, {"Running"}, timeout=180)
    core = client.CoreV1Api(kube.api)
    for pod in core.list_namespaced_pod(release, label_selector=f"app.kubernetes.io/instance={RELEASE}").items:
        core.delete_namespaced_pod(name_of(pod), release, grace_period_seconds=0)
    squatter = apply_schedules(kube, runs_namespace, not_owned)

    assert_the_runs_end_as_told(installation, on_cluster)
    assert_the_schedules_act_on_their_trigger(installation, squatter)
    assert_every_granted_rule_is_used_and_no_request_refused(kube, release, runs_namespace)

    uninstall(kube, release, runs_namespace)


def assert_the_admission_policy_refuses_a_file_run(kube: Kube, runs_namespace: str) -> None:
    """The chart's admission policy refuses what its default policy does not allow, when it is applied."""

    def refused_at_admission() -> bool:
        body = training("from-a-file", data={"uri": "file:///etc/passwd"})
        try:
            custom(kube).create_namespaced_custom_object(GROUP, VERSION, runs_namespace, PLURAL, body)
        except ApiException as err:
            return "spec.data.uri: scheme file" in api_message(err)
        custom(kube).delete_namespaced_custom_object(GROUP, VERSION, runs_namespace, PLURAL, "from-a-file")
        return False

    eventually(refused_at_admission, "the chart's admission policy to refuse a file:// run")


def apply_runs(installation: Installation) -> tuple[dict[str, Any], dict[str, Any]]:
    """The four runs the installed operator handles; the bodies of on-cluster and not-owned."""
    kube, runs_namespace, s3_server = installation.kube, installation.runs_namespace, installation.s3_server
    # A DaskCluster run whose summary and checkpoints go to S3 with a Secret's credentials, deleted by its TTL.
    bucket = s3_server.create_bucket("chart")
    endpoint = {"client_kwargs": {"endpoint_url": s3_server.endpoint_url, "region_name": s3_server.region}}
    secret = s3_secret(kube, runs_namespace, s3_server)
    on_cluster = weekly_co2_run(
        "on-cluster",
        dask=ON_DASKCLUSTER,
        output={"uri": f"s3://{bucket}/runs", "storageOptions": endpoint, "credentialsSecretRef": {"name": secret}},
        execution__ttlSecondsAfterFinished=5,
    )
    # A run computed on a LocalCluster inside its driver pod, checkpointed in ConfigMaps.
    in_driver = weekly_co2_run("in-driver")
    # A run told to write its summary over a ConfigMap it does not own: refused, never overwritten.
    client.CoreV1Api(kube.api).create_namespaced_config_map(
        runs_namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="someone-elses"), data={"keep": "me"})
    )
    not_owned = training("not-owned", variables=["cpi"], output={"configMap": {"name": "someone-elses"}})
    # A run applied suspended: its driver Job is held (a patch), nothing starts.
    suspended = training("suspended", variables=["cpi"], execution__suspend=True)
    for body in (on_cluster, in_driver, not_owned, suspended):
        custom(kube).create_namespaced_custom_object(GROUP, VERSION, runs_namespace, PLURAL, body)
    return on_cluster, not_owned


def apply_schedules(kube: Kube, runs_namespace: str, not_owned: dict[str, Any]) -> str:
    """A schedule asked for a run now, and one whose run's name is taken by a run it does not own (the squatter,
    created here too); the squatter's name."""
    # A schedule asked for a run now: it creates the run (owned by it) and writes its own status.
    nightly: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RetrodictionSchedule",
        "metadata": {"name": "nightly", "annotations": {TRIGGER_ANNOTATION: "install-test"}},
        "spec": {
            "schedule": "0 2 * * *",
            "template": {
                "spec": {
                    **not_owned["spec"],
                    "output": {},
                    "window": {"lookback": "3650d"},
                    "data": {"uri": "builtin://co2"},
                }
            },
        },
    }
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, runs_namespace, "retrodictionschedules", nightly)
    # A schedule whose triggered run's name is taken by a run it does not own: read back, left alone, reported.
    squatter = {**not_owned, "metadata": {"name": run_name("taken", datetime.now(UTC), trigger="install-test")}}
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, runs_namespace, PLURAL, squatter)
    taken = {**nightly, "metadata": {**nightly["metadata"], "name": "taken"}}
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, runs_namespace, "retrodictionschedules", taken)
    name: str = squatter["metadata"]["name"]
    return name


def assert_the_runs_end_as_told(installation: Installation, on_cluster: dict[str, Any]) -> None:
    """on-cluster and in-driver succeed (on-cluster with the CLI's results, then deleted by its TTL), suspended
    stays Suspended, and not-owned fails, leaving the ConfigMap it does not own as it was."""
    kube, runs_namespace = installation.kube, installation.runs_namespace
    try:
        run = wait_for_phase(kube, runs_namespace, "on-cluster", {"Succeeded", "Failed"}, timeout=300)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{installation.operator_log()}") from None
    assert run["status"]["phase"] == "Succeeded", run["status"]
    s3_server = installation.s3_server
    assert_same_results(s3_server.read_json(run["status"]["summaryRef"]["uri"])["results"], cli_results(on_cluster))
    run = wait_for_phase(kube, runs_namespace, "in-driver", {"Succeeded", "Failed"}, timeout=300)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    wait_for_phase(kube, runs_namespace, "suspended", {"Suspended"}, timeout=60)
    run = wait_for_phase(kube, runs_namespace, "not-owned", {"Succeeded", "Failed"}, timeout=120)
    assert run["status"]["phase"] == "Failed" and "someone-elses" in run["status"]["message"], run["status"]
    kept = client.CoreV1Api(kube.api).read_namespaced_config_map("someone-elses", runs_namespace)
    assert kept.data == {"keep": "me"}
    eventually(
        lambda: not run_exists(kube, runs_namespace, "on-cluster"),
        "the TTL to delete the run",
        lambda: f"{get_run(kube, runs_namespace, 'on-cluster')['metadata']}\n{installation.operator_log()}",
        timeout=60,
    )


def assert_the_schedules_act_on_their_trigger(installation: Installation, squatter: str) -> None:
    """nightly's triggered run finishes; taken records its trigger and leaves the squatter alone, which fails on
    its own like not-owned."""
    kube, runs_namespace = installation.kube, installation.runs_namespace

    def scheduled_run_finished() -> bool:
        runs = listed_items(kube, runs_namespace, label_selector="training.retrodiction.dev/schedule=nightly")
        # Its ten years up to now lie beyond the bundled data, so it ends Failed (InvalidSpec): enough here.
        return bool(runs) and all((run.get("status") or {}).get("phase") in ("Succeeded", "Failed") for run in runs)

    eventually(scheduled_run_finished, "the schedule's triggered run to finish", installation.operator_log)

    def last_trigger_of_taken() -> object:
        taken = custom(kube).get_namespaced_custom_object_status(
            GROUP, VERSION, runs_namespace, "retrodictionschedules", "taken"
        )
        return as_dict(taken).get("status", {}).get("lastTrigger")

    eventually(
        lambda: last_trigger_of_taken() == "install-test",
        "the schedule whose run name is taken to act on its trigger",
        installation.operator_log,
    )
    assert get_run(kube, runs_namespace, squatter)["metadata"].get("ownerReferences") is None
    # The squatter is an ordinary run of its own (told to write over someone-elses, like not-owned): it fails too.
    run = wait_for_phase(kube, runs_namespace, squatter, {"Succeeded", "Failed"}, timeout=120)
    assert run["status"]["phase"] == "Failed" and "someone-elses" in run["status"]["message"], run["status"]


def assert_every_granted_rule_is_used_and_no_request_refused(kube: Kube, release: str, runs_namespace: str) -> None:
    """The audit log's witness, for the operator and for the drivers: no request refused for good, no rule granted
    but never used (bar NOT_REQUESTED_BUT_CHECKED); no verb on Secrets for the operator and no wildcard anywhere."""
    operator_rules, driver_rules = granted(kube, release)
    for user, who, rules in (
        (f"system:serviceaccount:{release}:{FULLNAME}", "operator", operator_rules),
        (_is_driver(runs_namespace), "drivers", driver_rules),
    ):
        used, refused = requested(kube, user, who)
        assert not refused, (who, [(e["verb"], e["objectRef"]) for e in refused])
        unused = rules - used - NOT_REQUESTED_BUT_CHECKED
        assert not unused, f"granted to the {who} but never used: {sorted(unused)}"
    # No verb on Secrets for the operator, and no wildcard anywhere.
    assert not [rule for rule in operator_rules if rule[1] == "secrets"]
    assert not [rule for rule in operator_rules | driver_rules if "*" in rule]


def uninstall(kube: Kube, namespace: str, runs_namespace: str) -> None:
    """`helm uninstall` leaves what docs/operator-guide.md says it keeps (the CRDs, runs, results), nothing else."""
    result = helm("uninstall", RELEASE, "--namespace", namespace, "--wait", kubeconfig=kube.kubeconfig)
    assert result.returncode == 0, result.stderr
    selector = f"app.kubernetes.io/instance={RELEASE}"
    core, rbac = client.CoreV1Api(kube.api), client.RbacAuthorizationV1Api(kube.api)
    eventually(lambda: not core.list_namespaced_pod(namespace, label_selector=selector).items, "the operator pod to go")
    assert not client.AppsV1Api(kube.api).list_namespaced_deployment(namespace, label_selector=selector).items
    assert not core.list_namespaced_service_account(namespace, label_selector=selector).items
    assert not core.list_namespaced_service(namespace, label_selector=selector).items
    assert not rbac.list_cluster_role(label_selector=selector).items
    assert not rbac.list_cluster_role_binding(label_selector=selector).items
    assert not rbac.list_namespaced_role(runs_namespace, label_selector=selector).items
    # Kept by design: the CRD (deleting it deletes every run) and the finished runs, free of finalizers.
    client.ApiextensionsV1Api(kube.api).read_custom_resource_definition(TRAININGS_CRD)
    runs = listed_items(kube, runs_namespace)
    names = {run["metadata"]["name"] for run in runs}
    manual = ("nightly-manual-", "taken-manual-")
    assert {name for name in names if not name.startswith(manual)} == {"in-driver", "not-owned", "suspended"}
    assert len(names) == 5
    finished = [run for run in runs if (run.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
    assert len(finished) == 4 and all(not run["metadata"].get("finalizers") for run in finished)
    # No DaskCluster outlives its finished run.
    assert not listed_items(kube, runs_namespace, "daskclusters", "kubernetes.dask.org", "v1")


def test_helm_upgrade_applies_a_changed_crd(kube: Kube, chart: Path, release: str, tmp_path: Path) -> None:
    namespace = release
    install(kube, chart, namespace, "replicaCount=0")
    changed = tmp_path / "changed"
    shutil.copytree(chart, changed)
    metadata = yaml.safe_load((changed / "Chart.yaml").read_text())
    metadata["version"] = "0.1.1-changed"
    (changed / "Chart.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    template = changed / "templates" / "crds" / f"{TRAININGS_CRD}.yaml"
    column = "    - name: Age\n"
    text = template.read_text()
    assert column in text
    template.write_text(
        text.replace(column, "    - name: Reason\n      type: string\n      jsonPath: .status.reason\n" + column, 1)
    )
    result = helm(
        "upgrade", RELEASE, str(changed), "--namespace", namespace, "--wait", "--set", "replicaCount=0",
        kubeconfig=kube.kubeconfig,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    def columns() -> list[str]:
        crd = client.ApiextensionsV1Api(kube.api).read_custom_resource_definition(TRAININGS_CRD)
        printer_columns = crd.spec.versions[0].additional_printer_columns
        assert printer_columns is not None, crd
        return [c.name for c in printer_columns]

    eventually(lambda: "Reason" in columns(), "the upgraded CRD", lambda: str(columns()))
    result = helm("uninstall", RELEASE, "--namespace", namespace, "--wait", kubeconfig=kube.kubeconfig)
    assert result.returncode == 0, result.stderr
    apply_project_crds(kube.api)  # back to the CRD in the repository, as every other test expects
