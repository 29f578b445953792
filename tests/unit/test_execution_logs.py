"""Dask's INFO lines stay out of a local run's terminal unless asked for; the levels are put back afterwards."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from retrodiction.execution.logs import library_logs


@pytest.fixture
def scheduler_logger() -> Iterator[logging.Logger]:
    """distributed.scheduler with a level of its own, as `logging: {distributed.scheduler: info}` gives it."""
    logger = logging.getLogger("distributed.scheduler")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(level)


def test_quiet_passes_warnings_but_no_info(scheduler_logger: logging.Logger) -> None:
    with library_logs(verbose=False):
        assert not scheduler_logger.isEnabledFor(logging.INFO)
        assert not logging.getLogger("distributed.nanny").isEnabledFor(logging.INFO)
        assert not logging.getLogger("kopf.objects").isEnabledFor(logging.INFO)
        assert scheduler_logger.isEnabledFor(logging.WARNING)


def test_verbose_leaves_the_libraries_own_levels(scheduler_logger: logging.Logger) -> None:
    with library_logs(verbose=True):
        assert scheduler_logger.isEnabledFor(logging.INFO)


def test_levels_are_restored_after_the_run(scheduler_logger: logging.Logger) -> None:
    before = {name: logging.getLogger(name).level for name in ("distributed", "tornado", "distributed.scheduler")}
    with library_logs(verbose=False):
        pass
    assert {name: logging.getLogger(name).level for name in before} == before


def test_a_library_quieter_than_warning_stays_as_quiet() -> None:
    tornado = logging.getLogger("tornado")
    level = tornado.level
    tornado.setLevel(logging.CRITICAL)
    try:
        with library_logs(verbose=False):
            assert not tornado.isEnabledFor(logging.ERROR)
    finally:
        tornado.setLevel(level)
