"""The rule for what a test needs but cannot have: skipped on a laptop, a failure in CI (CI must never skip silently).

Standard library and pytest only: the pytest plugin (pytest_plugin.py) imports this in every pytest run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str, *, in_ci_because: str = "e2e tests must not be skipped") -> NoReturn:
    """Skip, or fail in CI, because something a test needs cannot be had."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: {in_ci_because})", pytrace=False)
    pytest.skip(reason)
