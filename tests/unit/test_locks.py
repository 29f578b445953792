"""The image installs requirements/runtime.txt; the tests install requirements/lock.txt. They must agree."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)(?:\[[^\]]*\])?==(\S+)", re.MULTILINE)


def pins(name: str) -> dict[str, str]:
    return {pkg.lower(): version for pkg, version in PIN.findall((REPO / "requirements" / name).read_text())}


def test_every_runtime_pin_is_the_version_the_tests_run_with() -> None:
    runtime, lock = pins("runtime.txt"), pins("lock.txt")
    assert runtime, "runtime.txt pins nothing"
    differing = {pkg: (version, lock.get(pkg)) for pkg, version in runtime.items() if lock.get(pkg) != version}
    assert differing == {}


def test_the_runtime_lock_leaves_out_test_only_tools() -> None:
    runtime = pins("runtime.txt")
    assert "pytest" not in runtime
    assert "moto" not in runtime
    assert {"numpy", "distributed", "kopf", "dask-kubernetes"} <= set(runtime)
