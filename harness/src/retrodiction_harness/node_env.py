"""A container's environment and argv as a kubelet computes them.

Covers `env` (value, fieldRef, resourceFieldRef, secretKeyRef, configMapKeyRef), `envFrom` and the `$(VAR)`
expansion of env values, command and args. Secrets and ConfigMaps come through `EnvSources` so that this module
stays pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from kubernetes.utils import parse_quantity

JsonObject = dict[str, Any]

_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
# Kubernetes accepts C identifiers plus '-' and '.' as env names (RelaxedEnvironmentVariableValidation).
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ContainerConfigError(Exception):
    """The environment cannot be built yet (a kubelet reports CreateContainerConfigError and retries)."""


class EnvSources(Protocol):
    def config_map(self, namespace: str, name: str) -> Mapping[str, str] | None: ...

    def secret(self, namespace: str, name: str) -> Mapping[str, str] | None: ...


@dataclass(frozen=True)
class PodContext:
    """What the downward API may expose that is not (yet) in the pod object the stand-in holds."""

    pod: JsonObject
    node_name: str
    pod_ip: str
    host_ip: str
    node_allocatable: Mapping[str, str]


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """`$(VAR)` expansion with the rules of k8s.io/kubernetes third_party/forked/golang/expansion.

    `$$` is an escaped `$`; an unknown or unterminated reference is kept as written.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "$" or i + 1 == n:
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2 : close]
                value = lookup(name)
                out.append(value if value is not None else f"$({name})")
                i = close + 1
        else:
            out.append("$" + following)
            i += 2
    return "".join(out)


def field_ref(ctx: PodContext, field_path: str) -> str:
    meta = ctx.pod.get("metadata", {})
    spec = ctx.pod.get("spec", {})
    simple: dict[str, str] = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName") or ctx.node_name,
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": ctx.pod_ip,
        "status.podIPs": ctx.pod_ip,
        "status.hostIP": ctx.host_ip,
        "status.hostIPs": ctx.host_ip,
    }
    if field_path in simple:
        return simple[field_path]
    match = _LABEL_REF.match(field_path)
    if match:
        values: Mapping[str, str] = meta.get(match.group(1)) or {}
        return values.get(match.group(2), "")
    raise ContainerConfigError(f"unsupported fieldRef fieldPath {field_path!r}")


def resource_field_ref(ctx: PodContext, container: JsonObject, ref: JsonObject) -> str:
    """limits.* / requests.* of a container; an unset limit is the node's allocatable, as with a kubelet."""
    if ref.get("containerName"):
        containers = ctx.pod.get("spec", {}).get("containers", []) + ctx.pod.get("spec", {}).get("initContainers", [])
        found = [c for c in containers if c.get("name") == ref["containerName"]]
        if not found:
            raise ContainerConfigError(f"resourceFieldRef names unknown container {ref['containerName']!r}")
        container = found[0]
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    if kind not in ("limits", "requests") or not resource:
        raise ContainerConfigError(f"unsupported resourceFieldRef resource {ref.get('resource')!r}")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(resource)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(resource)
    if raw is None:
        raw = ctx.node_allocatable.get(resource, "0") if kind == "limits" else "0"
    # parse_quantity (kubernetes.utils, exempt from no-untyped-call in pyproject.toml) returns a Decimal.
    value: Decimal = parse_quantity(str(raw))
    divisor: Decimal = parse_quantity(str(ref.get("divisor") or "1"))
    return str(math.ceil(value / divisor))


def _key_ref(sources: EnvSources, namespace: str, ref: JsonObject, kind: str) -> str | None:
    fetch = sources.secret if kind == "secret" else sources.config_map
    data = fetch(namespace, ref.get("name", ""))
    optional = bool(ref.get("optional"))
    if data is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind} "{ref.get("name")}" not found')
    if ref.get("key") not in data:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name')}")
    return data[ref["key"]]


def _env_from(source: JsonObject, namespace: str, sources: EnvSources) -> dict[str, str]:
    """The variables of one envFrom entry: every valid key of its ConfigMap or Secret, with its prefix."""
    prefix = source.get("prefix", "")
    env: dict[str, str] = {}
    for kind, key in (("configMap", "configMapRef"), ("secret", "secretRef")):
        ref = source.get(key)
        if ref is None:
            continue
        fetch = sources.secret if kind == "secret" else sources.config_map
        data = fetch(namespace, ref.get("name", ""))
        if data is None:
            if ref.get("optional"):
                continue
            raise ContainerConfigError(f'{kind} "{ref.get("name")}" not found')
        env.update({prefix + k: v for k, v in data.items() if _ENV_NAME.match(prefix + k)})
    return env


def _value_from(ctx: PodContext, container: JsonObject, item: JsonObject, sources: EnvSources) -> str | None:
    """An env entry's valueFrom; None when an optional key is missing (the variable is then left out)."""
    value_from = item["valueFrom"]
    namespace = ctx.pod.get("metadata", {}).get("namespace", "")
    if "fieldRef" in value_from:
        return field_ref(ctx, value_from["fieldRef"]["fieldPath"])
    if "resourceFieldRef" in value_from:
        return resource_field_ref(ctx, container, value_from["resourceFieldRef"])
    if "secretKeyRef" in value_from:
        return _key_ref(sources, namespace, value_from["secretKeyRef"], "secret")
    if "configMapKeyRef" in value_from:
        return _key_ref(sources, namespace, value_from["configMapKeyRef"], "configmap")
    raise ContainerConfigError(f"unsupported valueFrom for {item['name']}: {sorted(value_from)}")


def container_env(ctx: PodContext, container: JsonObject, sources: EnvSources) -> dict[str, str]:
    """The container's own variables in Kubernetes order: envFrom first, then env, later entries winning."""
    namespace = ctx.pod.get("metadata", {}).get("namespace", "")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        env.update(_env_from(source, namespace, sources))
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item or "valueFrom" not in item:
            # Only explicit values are expanded, and only with variables defined before them.
            env[name] = expand(item.get("value", ""), env.get)
            continue
        value = _value_from(ctx, container, item, sources)
        if value is not None:
            env[name] = value
    return env


def container_argv(container: JsonObject, env: Mapping[str, str]) -> list[str]:
    """command + args with `$(VAR)` expanded; empty when the image's entrypoint would be needed."""
    command = [expand(part, env.get) for part in container.get("command") or []]
    args = [expand(part, env.get) for part in container.get("args") or []]
    if not command:
        return []
    return command + args
