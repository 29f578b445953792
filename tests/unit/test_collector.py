"""The cyclic collector through a training command's phases, and back as it was after the command."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from retrodiction.collector import command_phases


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


def test_the_collector_is_off_while_setting_up_and_writing_and_on_over_new_objects_while_running() -> None:
    with command_phases() as phases:
        assert not gc.isenabled()
        phases.running()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0, "what was made while setting up is left alone"
        phases.writing()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_failure_in_any_phase_restores_the_collector() -> None:
    def failing_run() -> None:
        with command_phases() as phases:
            phases.running()
            raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError):
        failing_run()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_process_with_the_collector_off_keeps_it_off() -> None:
    gc.disable()
    with command_phases() as phases:
        phases.running()
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_objects_the_process_froze_itself_stay_frozen() -> None:
    # An object of its own, not the count: frozen objects that other threads drop meanwhile leave the frozen set.
    marker: list[object] = []
    gc.freeze()
    with command_phases() as phases:
        phases.running()
    assert gc.is_tracked(marker)
    assert not any(tracked is marker for tracked in gc.get_objects()), "unfrozen: back among the collected"
