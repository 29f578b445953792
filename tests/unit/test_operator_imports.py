"""The operator never runs tenant work: nothing under retrodiction/controller/ imports the layers that read data,
run Dask or drive a run, directly or through another retrodiction module. Proved twice: on the source (every import
statement that can run, followed through the package), and by importing the operator in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

from tests.import_graph import PACKAGE_ROOT, dependencies, imported_modules, module_file

CONTROLLER = PACKAGE_ROOT / "controller"

# The layers of a run (they read data, run Dask, or drive a run), which the operator must never load.
FORBIDDEN = (
    "retrodiction.coordinator",
    "retrodiction.execution",
    "retrodiction.data",
    "retrodiction.engine",
    "retrodiction.driver",
    "retrodiction.batches",
    "retrodiction.config",
    "retrodiction.summary",
    "retrodiction.report",
    "retrodiction.forecasters",  # builds custom models: imports statsforecast or a tenant's plugin
)
HEAVY_LIBRARIES = ("distributed", "dask", "fsspec", "pandas", "pyarrow", "numpy", "s3fs", "statsforecast")


def _forbidden(module: str) -> bool:
    return any(module == layer or module.startswith(f"{layer}.") for layer in FORBIDDEN)


# --- the static import graph --------------------------------------------------------------------------------------


def forbidden_chain(start: str, root: Path = PACKAGE_ROOT) -> list[str] | None:
    """The import chain from `start` to the first forbidden module it reaches (breadth first), or None."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if _forbidden(current):
            chain = [current]
            while (previous := came_from[chain[-1]]) is not None:
                chain.append(previous)
            return chain[::-1]
        for name in sorted(dependencies(current, root)):
            if name not in came_from:
                came_from[name] = current
                queue.append(name)
    return None


def _controller_modules() -> list[str]:
    return sorted(
        "retrodiction.controller" if path.name == "__init__.py" else f"retrodiction.controller.{path.stem}"
        for path in CONTROLLER.glob("*.py")
    )


def test_the_controller_package_has_its_modules() -> None:
    modules = _controller_modules()
    assert {
        "retrodiction.controller",
        "retrodiction.controller.handlers",
        "retrodiction.controller.lifecycle",
        "retrodiction.controller.driver",
        "retrodiction.controller.report_reader",
    } <= set(modules)
    assert all(module_file(module) is not None for module in modules)


@pytest.mark.parametrize("module", _controller_modules())
def test_no_controller_module_reaches_a_layer_of_a_run(module: str) -> None:
    chain = forbidden_chain(module)
    assert chain is None, "forbidden import chain: " + " -> ".join(chain or [])


def test_the_walk_reaches_the_modules_a_controller_module_loads() -> None:
    reached = dependencies("retrodiction.controller.lifecycle")
    # `from retrodiction.controller import events, metrics` loads two modules, not just the package.
    assert {"retrodiction.controller.events", "retrodiction.controller.metrics"} <= reached
    assert {"retrodiction.controller.report_reader", "retrodiction.api.policy", "retrodiction.ownership"} <= reached
    # And the packages above it run first.
    assert {"retrodiction", "retrodiction.controller"} <= reached


def test_the_walk_finds_the_forbidden_imports_of_the_real_seed_module() -> None:
    # The seed module's API drives a run: it must be caught, or the walk proves nothing about the real tree.
    chain = forbidden_chain("retrodiction.parallel_trainer")
    assert chain is not None
    assert chain[0] == "retrodiction.parallel_trainer"
    assert _forbidden(chain[-1])
    assert not any(_forbidden(link) for link in chain[:-1])


def _write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "retrodiction"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


def test_the_walk_finds_a_forbidden_module_through_a_chain_of_allowed_ones(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import retrodiction.engine\n",
            "controller/__init__.py": "",
            "controller/a.py": "from retrodiction.controller import b\n",
            "controller/b.py": "def later():\n    from ..api import c\n",
            "api/__init__.py": "",
            "api/c.py": "from retrodiction.data.reader import read\n",
            "data/__init__.py": "",
            "data/reader.py": "def read(): ...\n",
        },
    )
    assert forbidden_chain("retrodiction.controller.a", package) == [
        "retrodiction.controller.a",
        "retrodiction.controller.b",
        "retrodiction.api.c",
        "retrodiction.data",
    ]


def test_the_walk_finds_a_forbidden_import_in_a_parent_package(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "controller/__init__.py": "import retrodiction.coordinator\n",
            "controller/a.py": "X = 1\n",
            "coordinator.py": "",
        },
    )
    assert forbidden_chain("retrodiction.controller.a", package) == [
        "retrodiction.controller.a",
        "retrodiction.controller",
        "retrodiction.coordinator",
    ]


def test_the_walk_ignores_imports_only_type_checkers_see(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "controller/__init__.py": "",
            "controller/a.py": "import typing\nif typing.TYPE_CHECKING:\n    from retrodiction.engine import Scores\n",
            "engine/__init__.py": "",
        },
    )
    assert forbidden_chain("retrodiction.controller.a", package) is None


X = "retrodiction.controller.x"


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("import retrodiction.data.model", X, False, {"retrodiction.data.model"}),
        ("import retrodiction.engine as e", X, False, {"retrodiction.engine"}),
        ("from retrodiction.api import training", X, False, {"retrodiction.api", "retrodiction.api.training"}),
        ("from retrodiction.api.training import GROUP", X, False, {"retrodiction.api.training"}),
        ("from . import pods", X, False, {"retrodiction.controller", "retrodiction.controller.pods"}),
        ("from .pods import container", X, False, {"retrodiction.controller.pods"}),
        ("from ..data import model", X, False, {"retrodiction.data", "retrodiction.data.model"}),
        ("from ..batches import plan_batches", X, False, {"retrodiction.batches"}),
        ("from .pods import container", "retrodiction.controller", True, {"retrodiction.controller.pods"}),
        ("def f():\n    import retrodiction.coordinator", X, False, {"retrodiction.coordinator"}),
        (
            "if TYPE_CHECKING:\n    import retrodiction.engine\nelse:\n    import retrodiction.data",
            X,
            False,
            {"retrodiction.data"},
        ),
        ("if typing.TYPE_CHECKING:\n    from retrodiction.engine import Scores", X, False, set()),
        ("import json\nfrom kopf import on", X, False, set()),
    ],
)
def test_import_statements_are_resolved_to_the_modules_they_load(
    source: str, module: str, is_package: bool, expected: set[str]
) -> None:
    assert imported_modules(source, module, is_package=is_package) == expected


# --- the imports of a running operator ----------------------------------------------------------------------------


def _modules_after(statement: str) -> list[str]:
    """The modules in sys.modules after running `statement` in a fresh interpreter."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=PACKAGE_ROOT.parent,
    )
    assert result.returncode == 0, result.stderr
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return modules


def _unwanted(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] in HEAVY_LIBRARIES or _forbidden(name)]


def test_the_unwanted_check_sees_what_the_driver_loads() -> None:
    unwanted = _unwanted(_modules_after("import retrodiction.driver.run"))
    assert "retrodiction.data.credentials" in unwanted
    assert "numpy" in unwanted


def test_importing_the_operators_handlers_loads_no_data_dask_or_run_layer() -> None:
    modules = _modules_after("import retrodiction.controller.handlers")
    assert "retrodiction.controller.handlers" in modules
    assert "kopf" in modules
    assert _unwanted(modules) == []


def test_importing_every_controller_module_loads_no_data_dask_or_run_layer() -> None:
    modules = _modules_after("\n".join(f"import {module}" for module in _controller_modules()))
    assert set(_controller_modules()) <= set(modules)
    assert _unwanted(modules) == []
