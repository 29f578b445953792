"""The laptop commands' consoles: stdout carries what a command answers (the trust table, its JSON, the dataset
list), so that a pipe or a script gets that alone; stderr carries how the run goes (notes, progress, errors)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console(*, stderr: bool = False) -> Console:
    """rich's console, imported on first use: only the laptop's commands (the `cli` extra) print with it; the
    operator and a run's driver print plain lines and run in images without rich."""
    from rich.console import Console

    return Console(stderr=stderr)
