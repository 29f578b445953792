"""Waiting for the cluster to converge: one polling helper for every e2e test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    condition: Callable[[], T],
    what: str,
    diagnostics: Callable[[], str] | None = None,
    *,
    timeout: float = 120.0,
    interval: float = 0.2,
) -> T:
    """Poll `condition` until it returns something truthy, and return that; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            details = f"\n{diagnostics()}" if diagnostics else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{details}")
        time.sleep(interval)
