"""Fixtures shared by the whole test tree. The cluster options and fixtures (--cluster, kube, namespace, node) come
from the harness's pytest plugin (harness/src/retrodiction_harness/pytest_plugin.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3 import S3Server, running_s3_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server (a real S3 API over HTTP on 127.0.0.1) for the whole session."""
    with running_s3_server() as server:
        yield server
