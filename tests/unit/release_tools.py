"""helm for the release tests: the project's build or the one on PATH; missing, the test skips, or fails under CI
(where the release's steps must be tested)."""

from __future__ import annotations

from retrodiction_harness.binaries import BinariesUnavailableError, tool
from retrodiction_harness.ci import unavailable


def helm_or_skip() -> str:
    try:
        return str(tool("helm"))
    except BinariesUnavailableError as error:
        unavailable(str(error), in_ci_because="the release's helm steps must be tested")
