"""The workers' start environment: Dask's pre-spawn variables as its Nanny would set them, for forked workers."""

import subprocess
import sys
from pathlib import Path

from retrodiction.worker_server import PRE_SPAWN_DEFAULTS, WORKER_MODULES, worker_start_environment


def test_without_config_or_environment_workers_get_one_blas_thread() -> None:
    one = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    assert worker_start_environment({}, {}) == one


def test_a_value_in_the_environment_stands_over_the_config() -> None:
    env = worker_start_environment({"OMP_NUM_THREADS": 2}, {"OMP_NUM_THREADS": "4"})
    assert env["OMP_NUM_THREADS"] == "4"


def test_the_config_adds_variables_and_overrides_the_defaults() -> None:
    env = worker_start_environment({"MKL_NUM_THREADS": 3, "EXTRA": "x"}, {})
    assert env["MKL_NUM_THREADS"] == "3"
    assert env["EXTRA"] == "x"


def test_a_variable_set_to_none_in_the_config_is_left_out() -> None:
    assert "OMP_NUM_THREADS" not in worker_start_environment({"OMP_NUM_THREADS": None}, {})


def test_malloc_trim_threshold_is_never_set_for_local_workers() -> None:
    # Dask's default once distributed is imported; it fixes glibc's mmap threshold and slowed scoring by 40%.
    assert "MALLOC_TRIM_THRESHOLD_" not in worker_start_environment({"MALLOC_TRIM_THRESHOLD_": 65536}, {})
    assert "MALLOC_TRIM_THRESHOLD_" not in PRE_SPAWN_DEFAULTS


def test_the_start_environment_is_the_forkservers_first_import() -> None:
    # Set before numpy loads, or the BLAS library has already read its thread count.
    assert WORKER_MODULES[0] == "retrodiction.worker_start"


def test_the_start_module_sets_the_configured_environment_before_numpy_is_imported(tmp_path: Path) -> None:
    # A user's Dask config file, as ~/.config/dask holds it.
    (tmp_path / "dask.yaml").write_text("distributed:\n  nanny:\n    pre-spawn-environ:\n      OMP_NUM_THREADS: 3\n")
    code = (
        "import os, sys; import retrodiction.worker_start; "
        "print(os.environ['OMP_NUM_THREADS'], 'numpy' in sys.modules, 'distributed' in sys.modules)"
    )
    env = {"PATH": "", "DASK_CONFIG": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["3", "False", "False"]


def test_the_worker_server_module_imports_nothing_heavy() -> None:
    code = (
        "import sys; import retrodiction.worker_server; "
        "print(sorted({'dask', 'numpy', 'distributed'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
