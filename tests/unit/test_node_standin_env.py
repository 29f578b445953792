"""The node stand-in builds a container's environment and argv as a kubelet does."""

from collections.abc import Mapping
from typing import Any

import pytest

from retrodiction_harness.node_env import (
    ContainerConfigError,
    PodContext,
    container_argv,
    container_env,
    expand,
)

POD: dict[str, Any] = {
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "uid": "u-1",
        "labels": {"app": "web"},
        "annotations": {"team": "data"},
    },
    "spec": {"serviceAccountName": "runner", "containers": []},
}


class Sources:
    def __init__(self) -> None:
        self.config_maps = {"settings": {"LEVEL": "debug", "bad key": "x"}}
        self.secrets = {"creds": {"TOKEN": "s3cr3t"}}

    def config_map(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return self.config_maps.get(name)

    def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return self.secrets.get(name)


def context(pod: dict[str, Any] = POD) -> PodContext:
    return PodContext(pod, "standin-0", "127.0.0.7", "127.0.0.1", {"cpu": "2", "memory": "4Gi"})


def test_expansion_follows_kubernetes_rules() -> None:
    values = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", values.get) == "1-two"
    assert expand("$$(A)", values.get) == "$(A)"
    assert expand("$(MISSING) $(A", values.get) == "$(MISSING) $(A"
    assert expand("$x $", values.get) == "$x $"


def test_env_values_see_only_variables_defined_before_them() -> None:
    container = {
        "env": [{"name": "LATER_REF", "value": "$(B)"}, {"name": "B", "value": "b"}, {"name": "C", "value": "$(B)!"}]
    }
    env = container_env(context(), container, Sources())
    assert env == {"LATER_REF": "$(B)", "B": "b", "C": "b!"}


def test_field_refs_expose_pod_identity_address_and_labels() -> None:
    paths = {
        "NAME": "metadata.name",
        "NS": "metadata.namespace",
        "UID": "metadata.uid",
        "APP": "metadata.labels['app']",
        "TEAM": "metadata.annotations['team']",
        "IP": "status.podIP",
        "HOST": "status.hostIP",
        "NODE": "spec.nodeName",
        "SA": "spec.serviceAccountName",
    }
    container = {"env": [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": v}}} for k, v in paths.items()]}
    env = container_env(context(), container, Sources())
    assert env == {
        "NAME": "web-1",
        "NS": "shop",
        "UID": "u-1",
        "APP": "web",
        "TEAM": "data",
        "IP": "127.0.0.7",
        "HOST": "127.0.0.1",
        "NODE": "standin-0",
        "SA": "runner",
    }


def test_secret_and_config_map_keys_are_read_and_optional_ones_may_be_missing() -> None:
    container = {
        "env": [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
            {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "x", "optional": True}}},
        ]
    }
    assert container_env(context(), container, Sources()) == {"TOKEN": "s3cr3t", "LEVEL": "debug"}


def test_a_missing_required_secret_is_a_container_config_error() -> None:
    container = {"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "x"}}}]}
    with pytest.raises(ContainerConfigError, match="not found"):
        container_env(context(), container, Sources())


def test_env_from_adds_prefixed_valid_names_and_env_wins() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "APP_"}, {"secretRef": {"name": "creds"}}],
        "env": [{"name": "TOKEN", "value": "override"}],
    }
    assert container_env(context(), container, Sources()) == {"APP_LEVEL": "debug", "TOKEN": "override"}


def test_resource_field_ref_falls_back_to_node_allocatable_and_applies_the_divisor() -> None:
    container = {
        "name": "c",
        "resources": {"requests": {"memory": "512Mi"}},
        "env": [
            {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory", "divisor": "1Mi"}}},
        ],
    }
    assert container_env(context(), container, Sources()) == {"CPUS": "2", "MEM_MI": "512"}


def test_argv_is_command_then_args_expanded_and_empty_without_a_command() -> None:
    env = {"NAME": "w-1"}
    assert container_argv({"command": ["dask", "worker"], "args": ["--name", "$(NAME)"]}, env) == [
        "dask",
        "worker",
        "--name",
        "w-1",
    ]
    assert container_argv({"args": ["dask-scheduler"]}, env) == []
