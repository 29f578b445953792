"""How the release commands end: an expected failure is one line on stderr and exit status 1, not a traceback,
so that the workflow's log shows the reason first."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_command(name: str, action: Callable[[], int], *expected: type[Exception]) -> int:
    try:
        return action()
    except expected as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 1
