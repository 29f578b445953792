"""The first import of the local workers' forkserver (worker_server.py): it sets the workers' start environment
(one BLAS thread each, from Dask's pre-spawn config) before numpy and its BLAS library load.

A forkserver can only run imports, so this one acts on import, which is all it is for: importing it anywhere
else would set these variables in that process too, and nothing else does.
"""

from __future__ import annotations

import os

import dask.config  # Dask's config only (the user's files included): neither distributed nor numpy

from retrodiction.worker_server import PRE_SPAWN_KEY, worker_start_environment

os.environ.update(worker_start_environment(dask.config.get(PRE_SPAWN_KEY, default=None) or {}, os.environ))
