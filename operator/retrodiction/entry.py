"""The console scripts, `retrodiction` and `kubectl-retrodiction`: light on purpose.

`retrodiction train FILE` runs its batches in local worker processes, which fork from a forkserver that imports
their libraries first (worker_server.py): the sooner it starts, the sooner the workers are up. Started here, before
the command imports anything heavy (the manifest's models, Dask), its imports overlap with all of the command's.
"""

from __future__ import annotations

import atexit
import gc
import sys
from collections.abc import Sequence

from retrodiction.identity import run_reference_name


def console_script() -> int:
    """`retrodiction ...` from the PATH."""
    return _command("retrodiction")


def kubectl_plugin() -> int:
    """`kubectl retrodiction ...`: kubectl runs `kubectl-retrodiction` from the PATH for it (the package installs
    it beside `retrodiction`), with the same commands; kubectl's KUBECONFIG reaches it through the environment."""
    return _command("kubectl retrodiction")


def _command(prog: str) -> int:
    _start_local_workers_early(sys.argv[1:])
    from retrodiction.cli import main

    return _ending(main(prog=prog))


def trains_locally(argv: Sequence[str]) -> bool:
    """Whether the command line is likely `train` of a manifest file on local workers: a guess made before the
    arguments are parsed, which at worst starts a forkserver that stays idle (the parser has the final word)."""
    if not argv or argv[0] != "train" or any(arg in ("-h", "--help") for arg in argv):
        return False
    if any(arg == "--scheduler" or arg.startswith("--scheduler=") for arg in argv):
        return False
    # rt/NAME is a run in the cluster, driven from here: its batches run on the run's own Dask cluster.
    return not any(run_reference_name(arg) is not None for arg in argv[1:])


def _start_local_workers_early(argv: Sequence[str]) -> None:
    if trains_locally(argv):
        from retrodiction.worker_server import start_worker_server

        start_worker_server()


def _ending(code: int) -> int:
    # The interpreter's exit runs one last full collection over every object left, a tenth of a second after a
    # run (collector.py), to free memory that the process's end frees anyway; it skips frozen objects, and exit
    # handlers run before it. (Registered, not done here: a test calling this in-process keeps its collector.)
    atexit.register(gc.freeze)
    return code
