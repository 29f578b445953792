"""How much the libraries under a local run say in the terminal.

Dask's INFO lines (a scheduler started, a worker registered, a client connected, a nanny closed) are for whoever
debugs Dask, not for the person waiting on a training: about thirty of them stood between `retrodiction train`
and its progress bar. Warnings and errors always get through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

# Every library whose loggers a local run wakes: Dask (scheduler, nanny, worker, comm), the Tornado server under
# it, Bokeh behind its dashboard, and Kopf, should an operator share the process.
LIBRARY_LOGGERS = ("distributed", "dask", "tornado", "bokeh", "kopf")


def worker_log_level(*, verbose: bool) -> int | bool:
    """LocalCluster's `silence_logs` for its worker processes: they configure their logging themselves, in a
    fresh interpreter, so this process's levels never reach them."""
    return False if verbose else logging.WARNING


@contextmanager
def library_logs(*, verbose: bool) -> Iterator[None]:
    """Within the block, the libraries' loggers in this process pass warnings and errors only; with `verbose`
    their own levels (dask's `logging` config) stand. Levels are restored on exit, since the command also runs
    inside tests and notebooks."""
    # Importing distributed sets its loggers' levels from dask's config, so it must come before ours.
    import distributed  # noqa: F401

    if verbose:
        yield
        return
    saved: dict[str, int] = {}
    for logger in _library_loggers():
        if logger.getEffectiveLevel() < logging.WARNING:
            saved[logger.name] = logger.level
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _library_loggers() -> list[logging.Logger]:
    """The libraries' top loggers and every child that has a level of its own (set by dask's config, say
    `distributed.scheduler: info`), which would otherwise keep passing INFO."""
    named = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    children = [
        logger
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if isinstance(logger, logging.Logger)
        and logger.level != logging.NOTSET
        and name.partition(".")[0] in LIBRARY_LOGGERS
        and name not in LIBRARY_LOGGERS
    ]
    return named + children
