"""Names, labels and ownerReferences of every object a run owns.

Every child carries an ownerReference to its run (deleting the run deletes it) and the same labels, so
`kubectl get all,cm -l training.retrodiction.dev/run=X` shows everything a run made.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from retrodiction import ownership
from retrodiction.identity import (
    API_VERSION,
    COMPONENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PART_OF,
    PART_OF_LABEL,
    RUN_LABEL,
    RUN_UID_LABEL,
    SCHEDULE_KIND,
    SCHEDULE_LABEL,
    SCHEDULED_TIME_ANNOTATION,
    TRAINING_KIND,
)
from retrodiction.times import parse_rfc3339

log = logging.getLogger(__name__)

_MAX_OBJECT_NAME = 253  # DNS-1123 subdomain: ConfigMaps, DaskClusters
_MAX_LABEL_VALUE = 63
_DIGEST_CHARS = 8

# --- naming --------------------------------------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_CHARS]


def _fit(name: str, limit: int) -> str:
    """`name` itself when it fits; else a truncated head plus a digest of the whole, so two long names differ."""
    if len(name) <= limit:
        return name
    head = name[: limit - _DIGEST_CHARS - 1].rstrip("-.")
    return f"{head}-{_digest(name)}"


def run_label_value(run_name: str) -> str:
    """Run names may be 253 characters; label values only 63."""
    return _fit(run_name, _MAX_LABEL_VALUE)


# dask-kubernetes names the scheduler Service `<cluster>-scheduler` and each worker Deployment
# `<cluster>-default-worker-<10 hex>`; the longest of those must still be a 63-character DNS label.
_DASK_LONGEST_SUFFIX = len("-default-worker-") + 10
MAX_DASK_CLUSTER_NAME: Final = _MAX_LABEL_VALUE - _DASK_LONGEST_SUFFIX


def dask_cluster_name(run_name: str) -> str:
    """The run's name when it is usable as is; otherwise a DNS-1035 form plus a digest of the original.

    DNS-1035 (start with a letter, no dots) because the scheduler Service is named after the cluster. Any change
    to the name adds the digest, so two runs never map to the same cluster.
    """
    if not run_name:
        raise ValueError("run name must not be empty")
    cleaned = re.sub(r"[^a-z0-9-]", "-", run_name.lower())
    if not cleaned[0].isalpha():
        cleaned = f"rt-{cleaned}"
    if cleaned == run_name and len(cleaned) <= MAX_DASK_CLUSTER_NAME and not cleaned.endswith("-"):
        return cleaned
    head = cleaned[: MAX_DASK_CLUSTER_NAME - _DIGEST_CHARS - 1].rstrip("-")
    return f"{head}-{_digest(run_name)}"


def suffixed_name(base: str, suffix: str) -> str:
    return _fit(base, _MAX_OBJECT_NAME - len(suffix)) + suffix


# A Job's name is a label value on its pods (job-name, 63 characters) and the prefix of their names.
_MAX_JOB_NAME = _MAX_LABEL_VALUE - len("-driver")


def driver_job_name(run_name: str) -> str:
    """`<run>-driver`, in the DNS-1035 form the run's DaskCluster uses, short enough for a Job."""
    base = dask_cluster_name(run_name)
    return _fit(base, _MAX_JOB_NAME).rstrip("-") + "-driver"


def driver_account_name(run_name: str) -> str:
    """The run's driver ServiceAccount, and the Role and RoleBindings that grant it what the run needs."""
    return suffixed_name(run_name, "-driver")


def driver_report_name(run_name: str) -> str:
    return suffixed_name(run_name, "-driver")


def tls_secret_name(run_name: str) -> str:
    return suffixed_name(run_name, "-tls")


def network_policy_name(run_name: str) -> str:
    return suffixed_name(run_name, "-dask")


# --- credentials Secrets, as the driver and the workers receive them (each key a variable under the prefix) -------

DATA_CREDENTIALS_PREFIX: Final = "RETRODICTION_DATA_CREDENTIALS_"
OUTPUT_CREDENTIALS_PREFIX: Final = "RETRODICTION_OUTPUT_CREDENTIALS_"

# --- the run's TLS Secret, as the Dask processes read it ----------------------------------------------------------

TLS_CA_KEY: Final = "ca.crt"
TLS_CERT_KEY: Final = "tls.crt"
TLS_KEY_KEY: Final = "tls.key"


def dask_tls_env(role: str) -> dict[str, str]:
    """Dask configuration variables -> keys of the run's TLS Secret, for `role` (scheduler, worker or client):
    PEM text in Dask's configuration, so no volume is needed, and encryption required."""
    if role not in ("scheduler", "worker", "client"):
        raise ValueError(f"unknown Dask role {role!r}")
    upper = role.upper()
    return {
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": TLS_CA_KEY,
        f"DASK_DISTRIBUTED__COMM__TLS__{upper}__CERT": TLS_CERT_KEY,
        f"DASK_DISTRIBUTED__COMM__TLS__{upper}__KEY": TLS_KEY_KEY,
    }


def summary_configmap_name(run_name: str, configured: str | None = None) -> str:
    return configured or suffixed_name(run_name, "-summary")


def report_configmap_name(summary_configmap: str) -> str:
    """`<summary ConfigMap>-html`: the HTML report goes beside the summary, whatever name the spec gave that."""
    return suffixed_name(summary_configmap, "-html")


# --- ownership and labels ------------------------------------------------------------------------------------------


def required_field(run_meta: Mapping[str, Any], key: str) -> str:
    value = run_meta.get(key)
    if not value or not isinstance(value, str):
        raise ValueError(f"run metadata has no {key}; children need it for their ownerReference")
    return value


def owner_reference(run_meta: Mapping[str, Any], *, block_owner_deletion: bool = True) -> dict[str, Any]:
    # blockOwnerDeletion needs RBAC `update` on retrodictiontrainings/finalizers: the operator holds it, a run's
    # driver does not, so what the driver writes is owned without it.
    return ownership.owner_reference(API_VERSION, TRAINING_KIND, run_meta, block_owner_deletion=block_owner_deletion)


def child_labels(run_meta: Mapping[str, Any], extra_labels: Mapping[str, str] | None = None) -> dict[str, str]:
    labels = {
        MANAGED_BY_LABEL: MANAGED_BY,
        PART_OF_LABEL: PART_OF,
        RUN_LABEL: run_label_value(required_field(run_meta, "name")),
        RUN_UID_LABEL: required_field(run_meta, "uid"),
    }
    # Extra labels cannot override the ones selectors and garbage collection of our own rely on.
    return {**dict(extra_labels or {}), **labels}


def child_metadata(
    run_meta: Mapping[str, Any],
    name: str,
    extra_labels: Mapping[str, str] | None = None,
    *,
    block_owner_deletion: bool = True,
) -> dict[str, Any]:
    """Metadata of a child: in the run's namespace, labelled, and owned by the run."""
    return {
        "name": name,
        "namespace": required_field(run_meta, "namespace"),
        "labels": child_labels(run_meta, extra_labels),
        "ownerReferences": [owner_reference(run_meta, block_owner_deletion=block_owner_deletion)],
    }


def component_selector(run_meta: Mapping[str, Any], component: str) -> str:
    """Label selector for one kind of child of this very run (by uid, not name)."""
    return f"{RUN_UID_LABEL}={required_field(run_meta, 'uid')},{COMPONENT_LABEL}={component}"


def controlling_run_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the RetrodictionTraining that controls `obj`, if one does."""
    return ownership.controller_uid(obj, TRAINING_KIND)


@dataclass(frozen=True)
class ScheduleRef:
    name: str
    uid: str


def schedule_of(run_meta: Mapping[str, Any]) -> ScheduleRef | None:
    """The RetrodictionSchedule that made a run (its controller reference), from the run's metadata; None for a
    run made by hand."""
    run = {"metadata": run_meta}
    uid = ownership.controller_uid(run, SCHEDULE_KIND)
    name = (ownership.controller_reference(run) or {}).get("name")
    return ScheduleRef(name, uid) if uid and isinstance(name, str) and name else None


def schedule_selector(schedule_name: str) -> str:
    """Label selector for the runs a schedule made."""
    return f"{SCHEDULE_LABEL}={run_label_value(schedule_name)}"


def scheduled_time(run: Mapping[str, Any]) -> datetime | None:
    """The slot a schedule made a run for (its annotation), or None."""
    return parse_rfc3339(((run.get("metadata") or {}).get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION))


def owned_by(configmap: Mapping[str, Any], run_uid: str | None) -> bool:
    """Whether the run controls `configmap`; with no run uid to check against (a local run), every one counts."""
    return run_uid is None or ownership.controlled_by(configmap, run_uid)


# The API server refuses a ConfigMap whose data exceeds 1 MiB; keep a margin for metadata and encoding.
CONFIGMAP_BUDGET: Final = 900 * 1024


def b64_text(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def object_name(configmap: Mapping[str, Any]) -> str:
    return str((configmap.get("metadata") or {}).get("name", ""))
