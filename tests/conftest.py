"""Fixtures shared by the whole test tree. The cluster options and fixtures (--cluster, kube, namespace, node) come
from the harness's pytest plugin (harness/src/retrodiction_harness/pytest_plugin.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.s3 import S3Server, running_s3_server

if TYPE_CHECKING:
    from selenium import webdriver


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server (a real S3 API over HTTP on 127.0.0.1) for the whole session."""
    with running_s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Debian's headless chromium through selenium (tests/browser.py), for tests that look at pages."""
    from tests.browser import chromium  # selenium loads only for the tests that use a browser

    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver
