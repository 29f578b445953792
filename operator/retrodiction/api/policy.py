"""What tenants may ask of the cluster: the admin policy, and the checks of a run's spec against it.

The chart renders the policy from its values into the operator's environment (RETRODICTION_POLICY, JSON) and into
the parameter ConfigMap of a ValidatingAdmissionPolicy, so the API server refuses what it can check; the operator
checks every run again with `violations` (a policy may change after a run was admitted), and passes the policy to
the run's driver, which checks what only the data can tell (rows per batch). On a laptop there is no policy: the
CLI keeps every scheme and option.

Everything here is pure: no I/O, and nothing is ever opened to decide (a URI is judged by its text).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from retrodiction.api.training import DEFAULT_MAX_HISTORY_ROWS, RetrodictionTrainingSpec

DaskMode = Literal["kubernetes", "local", "address"]

# fsspec protocols that read or write something other than the object named: other URLs (http, which reaches cloud
# metadata services), byte ranges of arbitrary files (reference), or local caches written into the reader's HOME.
# No policy can allow them in a cluster.
NEVER_ALLOWED_SCHEMES: Final = frozenset(
    {"reference", "http", "https", "simplecache", "filecache", "blockcache", "cached", "dir", "data"}
)
DEFAULT_SCHEMES: Final = ("builtin", "s3", "gs", "az")
# Storage options that say where and how to reach an object store, none of which names a local file or code.
DEFAULT_STORAGE_OPTION_KEYS: Final = (
    "anon",
    "client_kwargs",
    "config_kwargs",
    "endpoint_url",
    "region_name",
    "requester_pays",
    "use_ssl",
    "project",
    "account_name",
)


class AdminPolicy(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    dask_modes: tuple[DaskMode, ...] = Field(
        default=("kubernetes", "local"),
        description="spec.dask.mode values tenants may use; address (a scheduler the tenant runs) is opt-in.",
    )
    images: tuple[str, ...] = Field(
        default=(),
        description="Patterns (fnmatch) of spec.dask.image values allowed besides the chart's worker image.",
    )
    uri_schemes: tuple[str, ...] = Field(
        default=DEFAULT_SCHEMES,
        description="URI schemes of spec.data.uri and spec.output.uri; file only for a single-tenant install.",
    )
    storage_option_keys: tuple[str, ...] = Field(default=DEFAULT_STORAGE_OPTION_KEYS)
    ambient_credentials: bool = Field(
        default=False,
        description="Let runs use the node's or pod's own cloud credentials; off: anonymous unless a Secret is named.",
    )
    max_batches_per_run: int = Field(default=100_000, ge=1)
    max_rows_per_batch: int = Field(default=5_000_000, ge=1)
    max_history_rows: int = Field(
        default=DEFAULT_MAX_HISTORY_ROWS,
        ge=1,
        description="Rows of history a custom model reads at an origin when its spec sets no lookback (and at most).",
    )
    max_workers_per_run: int = Field(default=32, ge=1)
    max_concurrent_runs_per_namespace: int = Field(default=10, ge=1)

    @field_validator("uri_schemes")
    @classmethod
    def _no_dangerous_scheme(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refused = sorted(set(value) & NEVER_ALLOWED_SCHEMES)
        if refused:
            raise ValueError(f"{', '.join(refused)} can never be allowed in a cluster")
        return value


@dataclass(frozen=True)
class Violation:
    """One field of a spec that the policy refuses, and the rule it breaks."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


def uri_scheme(uri: str) -> str:
    """The fsspec protocol of a URI, as fsspec.core.split_protocol finds it (`data:` needs no slashes; a bare
    path is `file`); chained URLs (`a::b`) are judged by callers."""
    head, separator, _ = uri.partition("://")
    if separator and len(head) > 1:
        return head.lower()
    if uri.lower().startswith("data:"):
        return "data"
    return "file"


def _uri_violation(field: str, uri: str, policy: AdminPolicy) -> Violation | None:
    if "::" in uri:
        return Violation(field, "chained URLs (::) are not allowed in the cluster")
    scheme = uri_scheme(uri)
    if scheme in NEVER_ALLOWED_SCHEMES or scheme not in policy.uri_schemes:
        allowed = ", ".join(policy.uri_schemes)
        return Violation(field, f"scheme {scheme!r} is not allowed by the admin policy (allowed: {allowed})")
    return None


def _option_violations(field: str, options: dict[str, object], policy: AdminPolicy) -> list[Violation]:
    refused = sorted(set(options) - set(policy.storage_option_keys))
    if not refused:
        return []
    allowed = ", ".join(policy.storage_option_keys)
    return [Violation(field, f"keys {', '.join(refused)} are not allowed by the admin policy (allowed: {allowed})")]


def batch_bound(spec: RetrodictionTrainingSpec) -> int:
    """The most batches a spec can plan, by arithmetic on the spec alone: time slices times variable groups."""
    # Exact integer arithmetic, as batches.slice_bounds cuts the window (floats lose microseconds over millennia).
    slices = max(1, -(-(spec.window.end - spec.window.start) // timedelta(days=spec.window.batch_size_days)))
    groups = -(-len(spec.variables) // spec.variables_per_batch)
    return slices * groups


def image_allowed(image: str | None, default_image: str, policy: AdminPolicy) -> bool:
    return image is None or image == default_image or any(fnmatch.fnmatchcase(image, p) for p in policy.images)


def violations(spec: RetrodictionTrainingSpec, policy: AdminPolicy, *, default_image: str) -> list[Violation]:
    """Every way `spec` breaks `policy`, field by field; empty when it complies. Nothing is read or allocated in
    proportion to the spec's window: the batch count is arithmetic."""
    found: list[Violation] = []
    if spec.dask.mode not in policy.dask_modes:
        modes = ", ".join(policy.dask_modes)
        found.append(Violation("spec.dask.mode", f"{spec.dask.mode!r} is not allowed by the admin policy ({modes})"))
    if not image_allowed(spec.dask.image, default_image, policy):
        found.append(Violation("spec.dask.image", f"{spec.dask.image!r} is not an image the admin policy allows"))
    if spec.dask.workers > policy.max_workers_per_run:
        found.append(
            Violation("spec.dask.workers", f"{spec.dask.workers} is over the limit of {policy.max_workers_per_run}")
        )
    for field, uri in (("spec.data.uri", spec.data.uri), ("spec.output.uri", spec.output.uri)):
        if uri is not None and (problem := _uri_violation(field, uri, policy)):
            found.append(problem)
    found += _option_violations("spec.data.storageOptions", spec.data.storage_options, policy)
    found += _option_violations("spec.output.storageOptions", spec.output.storage_options, policy)
    bound = batch_bound(spec)
    if bound > policy.max_batches_per_run:
        found.append(
            Violation(
                "spec.window.batchSizeDays",
                f"the window and variables make up to {bound} batches, over the limit of {policy.max_batches_per_run} "
                "(raise batchSizeDays or variablesPerBatch)",
            )
        )
    return found
