"""When Python's cyclic garbage collector runs in a process that holds tens of thousands of objects.

A full collection walks every object the collector tracks. The command holds the libraries it imported (a few
hundred thousand objects) and, after a run, a summary of tens of thousands: one full collection while the table
printed took a fifth of a second, longer than printing it. Reference counting frees what these blocks drop either
way; only reference cycles wait for the collector.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (reference counting still frees), as it was before if it was off.
    For short blocks that make many objects: the collector would scan the growing heap again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class CommandPhases:
    """The collector through the phases of a command that runs a training.

    Setting up (imports, the plan) and writing the results make objects that live as long as the command or die
    young, none worth a full walk: the collector is off. While the run goes on, for minutes or hours, with Dask
    making reference cycles, it is on, and walks only what was made since setting up: that is frozen (gc.freeze).
    `close` restores the collector as it was, and unfreezes unless the process had frozen objects of its own."""

    def __init__(self) -> None:
        self._was_enabled = gc.isenabled()
        self._froze = False
        gc.disable()

    def running(self) -> None:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            self._froze = True
        if self._was_enabled:
            gc.enable()

    def writing(self) -> None:
        gc.disable()

    def close(self) -> None:
        if self._froze:
            gc.unfreeze()
        if self._was_enabled:
            gc.enable()


@contextmanager
def command_phases() -> Iterator[CommandPhases]:
    """CommandPhases, set up on entry, closed on exit however the block ends."""
    phases = CommandPhases()
    try:
        yield phases
    finally:
        phases.close()
