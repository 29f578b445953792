"""Who owns an object: one rule for the operator, the drivers and the schedules.

An object belongs to a run (or a schedule) when its controller reference (the one ownerReference with
`controller: true`; the API server allows at most one) names that owner's uid. This is the rule of Kubernetes' own
controllers (metav1.IsControlledBy, which the Job and CronJob controllers use): an ownerReference without
`controller` is a weaker tie anyone may add, and a uid is unique for the life of a cluster, so a run deleted and
made again under the same name never adopts its predecessor's objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retrodiction.identity import GROUP


class NotOwnedError(RuntimeError):
    """A child's name is taken by an object its owner does not control (a user's, or a deleted run's)."""


def controller_reference(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with `controller: true`, if there is one."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None


def controlled_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    ref = controller_reference(obj)
    return ref is not None and ref.get("uid") == owner_uid


def controller_uid(obj: Mapping[str, Any], kind: str) -> str | None:
    """The uid of the controller of `obj` when that controller is a `kind` of this project's API group (any
    version, so objects made under an older version still count)."""
    ref = controller_reference(obj)
    if ref is None or ref.get("kind") != kind:
        return None
    group = str(ref.get("apiVersion") or "").partition("/")[0]
    uid = ref.get("uid")
    return uid if group == GROUP and isinstance(uid, str) and uid else None


def require_controlled_by(obj: Mapping[str, Any], owner_uid: str) -> None:
    if not controlled_by(obj, owner_uid):
        metadata = obj.get("metadata") or {}
        raise NotOwnedError(f"{obj.get('kind', 'object')} {metadata.get('name')} exists and is not owned by this run")


def owner_reference(
    api_version: str, kind: str, owner_meta: Mapping[str, Any], *, block_owner_deletion: bool = True
) -> dict[str, Any]:
    """The controller reference to put on an object `owner_meta` (with name and uid) owns."""
    for key in ("name", "uid"):
        value = owner_meta.get(key)
        if not value or not isinstance(value, str):
            raise ValueError(f"{kind} metadata has no {key}; its children need it for their ownerReference")
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner_meta["name"],
        "uid": owner_meta["uid"],
        "controller": True,
        "blockOwnerDeletion": block_owner_deletion,
    }
