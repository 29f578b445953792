"""helm for the release tests: the project's build or the one on PATH; missing, the test skips, or fails under CI
(where the release's steps must be tested)."""

from __future__ import annotations

import pytest

from tests.e2e.harness.binaries import BinariesUnavailableError, tool
from tests.e2e.harness.cluster import in_ci


def helm_or_skip() -> str:
    try:
        return str(tool("helm"))
    except BinariesUnavailableError as error:
        if in_ci():
            pytest.fail(f"{error} (CI is set: the release's helm steps must be tested)", pytrace=False)
        pytest.skip(str(error))
