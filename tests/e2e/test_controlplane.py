"""The cluster behaves like a real Kubernetes API server: CEL validation, status subresource, garbage collection,
RBAC with API-issued ServiceAccount tokens; and the local harness leaves no process behind.

Each test works against the local control plane and against any existing cluster (--cluster=existing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from retrodiction_harness.binaries import cached_bin_dir
from retrodiction_harness.cluster import Kube
from retrodiction_harness.controlplane import ControlPlane
from retrodiction_harness.names import random_suffix
from retrodiction_harness.waiting import eventually

VERSION = "v1"
PLURAL = "windows"
CEL_MESSAGE = "end must be after start"


def window_crd(group: str) -> dict[str, Any]:
    """A namespaced CRD whose spec must satisfy a CEL rule and whose status is a subresource."""
    spec_schema = {
        "type": "object",
        "required": ["start", "end"],
        "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.end > self.start", "message": CEL_MESSAGE}],
    }
    status_schema = {"type": "object", "properties": {"observed": {"type": "integer"}}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "window", "kind": "Window", "listKind": "WindowList"},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec_schema, "status": status_schema},
                        }
                    },
                }
            ],
        },
    }


def window(group: str, name: str, start: int, end: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{group}/{VERSION}",
        "kind": "Window",
        "metadata": {"name": name},
        "spec": {"start": start, "end": end},
    }


@pytest.fixture(scope="module")
def window_group(kube: Kube) -> Iterator[str]:
    """Installs the Window CRD under a group no other run uses (CRDs are cluster-wide) and removes it afterwards."""
    group = f"e2e-{random_suffix()}.retrodiction.test"
    extensions = client.ApiextensionsV1Api(kube.api)
    crd = client.V1CustomResourceDefinition.from_dict(window_crd(group))
    assert crd is not None
    extensions.create_custom_resource_definition(crd)
    name = f"{PLURAL}.{group}"

    def established() -> bool:
        status = extensions.read_custom_resource_definition(name).status
        conditions = (status.conditions if status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    eventually(established, f"CRD {name} to be Established")
    yield group
    extensions.delete_custom_resource_definition(name)


def test_cel_rule_rejects_a_violating_object_with_its_message(kube: Kube, namespace: str, window_group: str) -> None:
    objects = client.CustomObjectsApi(kube.api)
    with pytest.raises(client.ApiException) as rejected:
        objects.create_namespaced_custom_object(
            window_group, VERSION, namespace, PLURAL, window(window_group, "backwards", start=5, end=3)
        )
    assert rejected.value.status == 422
    assert CEL_MESSAGE in str(rejected.value.body)

    created = objects.create_namespaced_custom_object(
        window_group, VERSION, namespace, PLURAL, window(window_group, "forwards", start=3, end=5)
    )
    assert isinstance(created, dict)
    assert created["spec"] == {"start": 3, "end": 5}


def test_status_subresource_separates_spec_and_status_writes(kube: Kube, namespace: str, window_group: str) -> None:
    objects = client.CustomObjectsApi(kube.api)
    objects.create_namespaced_custom_object(window_group, VERSION, namespace, PLURAL, window(window_group, "w", 1, 2))

    after_status_patch = objects.patch_namespaced_custom_object_status(
        window_group, VERSION, namespace, PLURAL, "w", {"spec": {"start": 10, "end": 20}, "status": {"observed": 7}}
    )
    assert isinstance(after_status_patch, dict)
    assert after_status_patch["status"] == {"observed": 7}
    assert after_status_patch["spec"] == {"start": 1, "end": 2}

    after_spec_patch = objects.patch_namespaced_custom_object(
        window_group, VERSION, namespace, PLURAL, "w", {"spec": {"end": 9}, "status": {"observed": 99}}
    )
    assert isinstance(after_spec_patch, dict)
    assert after_spec_patch["spec"] == {"start": 1, "end": 9}
    assert after_spec_patch["status"] == {"observed": 7}


def _config_map_exists(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_config_map(name, namespace)
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_deleting_an_owner_garbage_collects_what_it_owns(kube: Kube, namespace: str) -> None:
    core = client.CoreV1Api(kube.api)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"), data={"role": "owner"})
    )
    assert owner.metadata is not None and owner.metadata.uid is not None
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid, block_owner_deletion=True
    )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owned", owner_references=[reference]))
    )
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="bystander")))

    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    eventually(lambda: not _config_map_exists(core, namespace, "owned"), "the owned ConfigMap to be collected")
    assert _config_map_exists(core, namespace, "bystander")


def _service_account_client(admin: client.ApiClient, token: str) -> client.ApiClient:
    """A client that authenticates with `token` only (no client certificate), to the same server."""
    base = admin.configuration
    configuration = client.Configuration(host=base.host, ssl_ca_cert=base.ssl_ca_cert, verify_ssl=base.verify_ssl)
    configuration.proxy = base.proxy
    configuration.tls_server_name = base.tls_server_name
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration)


def _status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except client.ApiException as error:
        return int(error.status or 0)
    return 200


def test_service_account_token_is_confined_to_its_role(kube: Kube, namespace: str) -> None:
    core = client.CoreV1Api(kube.api)
    rbac = client.RbacAuthorizationV1Api(kube.api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="configmap-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="reader-reads-configmaps"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="configmap-reader"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
        ),
    )
    issued = core.create_namespaced_service_account_token(
        "reader",
        namespace,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)),
    )
    assert issued.status is not None and issued.status.token

    with _service_account_client(kube.api, issued.status.token) as as_reader:
        review = client.AuthenticationV1Api(as_reader).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status is not None and review.status.user_info is not None
        assert review.status.user_info.username == f"system:serviceaccount:{namespace}:reader"

        reader_core = client.CoreV1Api(as_reader)
        # The authorizer learns of new Roles through a watch, so the grant may take a moment to apply.
        eventually(
            lambda: _status_of(lambda: reader_core.list_namespaced_config_map(namespace)) == 200,
            "the RoleBinding to take effect",
        )
        assert _status_of(lambda: reader_core.list_namespaced_config_map("default")) == 403
        assert _status_of(lambda: reader_core.list_namespaced_secret(namespace)) == 403


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited already


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_stopping_a_control_plane_leaves_no_process_behind(kube: Kube, tmp_path: Path) -> None:
    bin_dir = kube.control_plane.bin_dir if kube.control_plane else cached_bin_dir()
    if bin_dir is None:
        pytest.skip("tests the local control-plane harness, whose binaries are not built here")
    workdir = tmp_path / "second-control-plane"
    control_plane = ControlPlane(bin_dir, workdir)
    control_plane.start()
    try:
        pids = control_plane.pids
        assert len(pids) == 3
        assert all(_alive(pid) for pid in pids)
        assert sorted(_processes_mentioning(str(workdir))) == sorted(pids)
    finally:
        control_plane.stop()
    assert not [pid for pid in pids if _alive(pid)]
    assert _processes_mentioning(str(workdir)) == []
