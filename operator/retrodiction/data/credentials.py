"""Storage options as a process sees them: the spec's non-secret options, plus credentials from its environment.

In a cluster a run's credentials Secret reaches its driver and its Dask workers as environment variables (each key
of the Secret under a prefix, through envFrom), so secrets never travel in the task graph or through the scheduler:
a task names the prefix, and each process reads the values from its own environment when it opens the data.
Without a Secret, and unless the admin policy lets runs use ambient credentials, object stores are read
anonymously, so a run cannot borrow the credentials of the node or pod it runs on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

# How each object-store backend is told to send no credentials at all.
_ANONYMOUS: Final[Mapping[str, Mapping[str, Any]]] = {
    "s3": {"anon": True},
    "s3a": {"anon": True},
    "gs": {"token": "anon"},
    "gcs": {"token": "anon"},
    "az": {"anon": True},
    "abfs": {"anon": True},
    "abfss": {"anon": True},
}


def credentials_from_environment(prefix: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables named `<prefix><key>`, as {key: value}."""
    env = os.environ if environ is None else environ
    return {name[len(prefix) :]: value for name, value in env.items() if name.startswith(prefix) and name != prefix}


def resolve_storage_options(
    uri: str,
    options: Mapping[str, Any],
    *,
    credentials_prefix: str | None,
    anonymous: bool,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`options`, with the credentials under `credentials_prefix` when given; else, when `anonymous`, the backend's
    way of sending none (credentials always win over a non-secret option of the same name)."""
    resolved = dict(options)
    credentials = credentials_from_environment(credentials_prefix, environ) if credentials_prefix else {}
    if credentials:
        resolved.update(credentials)
    elif anonymous:  # also when a named Secret's keys did not arrive: never the ambient credentials instead
        scheme = uri.partition("://")[0].lower() if "://" in uri else "file"
        resolved.update(_ANONYMOUS.get(scheme, {}))
    return resolved
