"""Each image's lock holds everything its processes import, caught before an image is built: a venv per lock
(made by uv from its shared cache, so in seconds), with the package's source on the path and nothing else, imports
every module each process may load and every library those modules name, in a fresh interpreter.

The processes: the operator (`retrodiction operator`: the controller), and in the worker image a run's driver
(`retrodiction train rt/NAME`, its init container `retrodiction tls rt/NAME`), and the Dask scheduler and workers,
which run retrodiction.execution's tasks and read the data (retrodiction.data, its modules loaded by name).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_graph import PACKAGE_ROOT, closure, libraries

pytestmark = pytest.mark.integration

REPO = PACKAGE_ROOT.parents[1]


def _package_modules(package: str) -> set[str]:
    folder = PACKAGE_ROOT.joinpath(*package.split(".")[1:])
    return {package} | {f"{package}.{path.stem}" for path in folder.glob("*.py") if path.stem != "__init__"}


# Where each process starts, as modules of the package. The command line is imported as a module only: its
# commands import their own layers inside functions, and each process runs one command.
STARTS = {
    "operator": {"retrodiction.controller.app", "retrodiction.controller.settings", "retrodiction.api.errors"}
    | _package_modules("retrodiction.controller"),
    "worker": {"retrodiction.driver.run", "retrodiction.driver.tls"}
    | _package_modules("retrodiction.execution")
    | _package_modules("retrodiction.data"),
}
# Loaded by name rather than by an import statement: the Dask pods' commands, and fsspec's s3:// filesystem.
# statsforecast.models is imported by name when a run names one of its classes (forecasters/registry.py); the
# driver renders the HTML report (imported inside the function that stores it).
BY_NAME = {
    "operator": set(),
    "worker": {
        "distributed.cli.dask_scheduler",
        "distributed.cli.dask_worker",
        "s3fs",
        "statsforecast.models",
        "retrodiction.report.html_report",
    },
}
# Libraries each image must not hold (tests/unit/test_locks.py checks the locks; this checks the venvs are them).
ABSENT = {
    "operator": ("numpy", "pandas", "pyarrow", "distributed", "fsspec", "rich", "matplotlib"),
    "worker": ("rich", "kopf", "dask_kubernetes", "pytest"),
}


def imports_of(image: str) -> list[str]:
    modules = closure(STARTS[image])
    return sorted(modules | {"retrodiction.cli"} | BY_NAME[image] | {lib for m in modules for lib in libraries(m)})


@pytest.fixture(scope="session")
def image_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A venv per image lock, holding exactly that lock: {image: its python}."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv is not None, "uv is installed into the test venv by `make install`"
    pythons = {}
    for image in STARTS:
        venv = tmp_path_factory.mktemp(f"{image}-venv")
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        python = venv / "bin" / "python"
        lock = REPO / "requirements" / f"{image}.txt"
        subprocess.run([uv, "pip", "sync", "--quiet", "--python", str(python), str(lock)], check=True)
        pythons[image] = python
    return pythons


def run_in(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python args` with the package's source and the venv's packages importable, and nothing of this venv's."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(PACKAGE_ROOT.parent), "HOME": str(cwd)}
    return subprocess.run(
        [str(python), *args], capture_output=True, text=True, timeout=300, check=False, env=env, cwd=cwd
    )


IMPORT_ALL = """
import importlib, json, sys
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except ImportError as err:
        failed[name] = f"{type(err).__name__}: {err}"
print(json.dumps(failed))
"""


@pytest.mark.parametrize("image", sorted(STARTS))
def test_an_image_venv_imports_every_module_its_processes_load(
    image: str, image_venvs: dict[str, Path], tmp_path: Path
) -> None:
    names = imports_of(image)
    done = run_in(image_venvs[image], "-c", IMPORT_ALL, json.dumps(names), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {}


def test_the_imports_cover_each_process() -> None:
    operator, worker = imports_of("operator"), imports_of("worker")
    assert {"retrodiction.controller.handlers", "kopf", "kubernetes", "croniter", "prometheus_client"} <= set(operator)
    assert {"retrodiction.coordinator", "retrodiction.data.parquet_format", "retrodiction.driver.tls"} <= set(worker)
    assert {"pyarrow", "pandas", "numpy", "scipy", "cryptography", "distributed", "s3fs"} <= set(worker)
    assert {"retrodiction.forecasters.registry", "statsforecast.models"} <= set(worker)


@pytest.mark.parametrize("image", sorted(STARTS))
def test_an_image_venv_holds_none_of_what_the_image_leaves_out(
    image: str, image_venvs: dict[str, Path], tmp_path: Path
) -> None:
    check = "import importlib.util, sys; print([n for n in sys.argv[1:] if importlib.util.find_spec(n)])"
    done = run_in(image_venvs[image], "-c", check, *ABSENT[image], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("image", "command", "extra"),
    [
        ("operator", ["train", "rt.yaml"], "cli"),
        ("operator", ["tls", "rt/demo", "--namespace", "ns"], "worker"),
        ("worker", ["operator"], "operator"),
        ("worker", ["train", "rt.yaml"], "cli"),
    ],
)
def test_a_command_of_another_image_names_the_extra_it_needs(
    image: str, command: list[str], extra: str, image_venvs: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "rt.yaml").write_text(
        "apiVersion: training.retrodiction.dev/v1alpha1\nkind: RetrodictionTraining\nmetadata: {name: demo}\n"
        "spec: {variables: [cpi], window: {start: '1990-01-01T00:00:00Z', end: '2000-01-01T00:00:00Z'}, "
        "data: {uri: 'builtin://macrodata'}}\n"
    )
    done = run_in(image_venvs[image], "-m", "retrodiction.cli", *command, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"the {extra!r} extra (pip install 'retrodiction-operator[{extra}]')" in done.stderr
    assert "Traceback" not in done.stderr
