"""Options shared by the whole test tree (the e2e cluster choice must be known before any e2e fixture runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3 import S3Server, running_s3_server


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("retrodiction e2e")
    group.addoption(
        "--cluster",
        choices=("local", "node", "existing"),
        default="local",
        help=(
            "where e2e tests run: 'local' (default) starts etcd + kube-apiserver + kube-controller-manager on "
            "127.0.0.1 from `bash hack/controlplane/build.sh`'s binaries (skipped if they are not built) with the "
            "node stand-in; 'node' adds a real kubelet + containerd node with CoreDNS and the images built from "
            "worker_image/Dockerfile (root, `make node-deps`); 'existing' uses the cluster in KUBECONFIG"
        ),
    )
    group.addoption(
        "--keep-cluster",
        action="store_true",
        default=False,
        help="keep the local control plane's workdir (certs, kubeconfig, logs, etcd data) after the session",
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server (a real S3 API over HTTP on 127.0.0.1) for the whole session."""
    with running_s3_server() as server:
        yield server
