"""Kubeconfig files with everything embedded, so a file can be copied or handed to another process on its own."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from retrodiction_harness.certs import CertAndKey


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_kubeconfig(server: str, ca_pem: bytes, credentials: CertAndKey, *, cluster: str, user: str) -> dict[str, Any]:
    """A single-context kubeconfig that authenticates with a client certificate."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(credentials.cert_pem),
                    "client-key-data": _b64(credentials.key_pem),
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user, "namespace": "default"}}],
        "current-context": cluster,
        "preferences": {},
    }


def write_private(path: Path, data: bytes) -> Path:
    """Write `data` to `path` readable by the owner only (the files hold private keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    return write_private(path, yaml.safe_dump(config, sort_keys=False).encode())


def load_configuration(path: Path) -> client.Configuration:
    """A client Configuration from a kubeconfig file, leaving the process-wide default untouched."""
    configuration = client.Configuration()
    # The loader is untyped; its effect is to fill `configuration`.
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return configuration
