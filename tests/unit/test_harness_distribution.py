"""The e2e harness (harness/) is a development tool: never in the product's wheel or image, and the code outside
tests/ (the package, the harness, benchmarks, hack/, the Makefile) never imports the test tree."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HARNESS = "harness"
# `import tests`, `from tests.x import`, `python -m tests.x` and tests/ paths handed to Python as modules.
TEST_TREE_IMPORT = re.compile(r"^\s*(from\s+tests[.\s]|import\s+tests\b)|-m\s+tests\.", re.MULTILINE)
SCANNED_SUFFIXES = {".py", ".sh", ".toml", ".yaml", ".yml", ".cfg"}


def _uv() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not installed (make install puts it in .venv/bin)")
    return uv


def test_the_product_wheel_holds_only_the_product_package(tmp_path: Path) -> None:
    subprocess.run([_uv(), "build", "--wheel", "--quiet", "-o", str(tmp_path), str(REPO)], check=True)
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert "retrodiction" in tops
    assert tops - {"retrodiction"} == {f"retrodiction_operator-{wheel.name.split('-')[1]}.dist-info"}


def _sent_to_the_build(path: str, patterns: list[str]) -> bool:
    """Whether the image build context holds `path`: the last matching .dockerignore pattern decides."""
    sent = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        if any(fnmatch.fnmatch("/".join(parts[:depth]), body) for depth in range(1, len(parts) + 1)):
            sent = negated
    return sent


def test_the_image_build_context_leaves_out_the_harness() -> None:
    ignore = (REPO / "worker_image" / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    harness_files = [path.relative_to(REPO).as_posix() for path in (REPO / HARNESS).rglob("*") if path.is_file()]
    assert harness_files, "harness/ is empty"
    assert [path for path in harness_files if _sent_to_the_build(path, patterns)] == []
    assert _sent_to_the_build("operator/retrodiction/__init__.py", patterns)  # the matcher can say yes


def _files_outside_the_test_tree() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        pytest.fail(f"git ls-files failed: {listed.stderr}")
    paths = [REPO / line for line in listed.stdout.splitlines()]
    return [
        path
        for path in paths
        if not path.relative_to(REPO).as_posix().startswith("tests/")
        and (path.suffix in SCANNED_SUFFIXES or path.name == "Makefile")
        and path.is_file()
    ]


def test_nothing_outside_tests_imports_the_test_tree() -> None:
    scanned = _files_outside_the_test_tree()
    assert any(path.name == "operator_overhead.py" for path in scanned), "the scan missed benchmarks/"
    offenders = [str(path.relative_to(REPO)) for path in scanned if TEST_TREE_IMPORT.search(path.read_text())]
    assert offenders == []


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("from tests.e2e.harness.cluster import Kube", True),
        ("    import tests", True),
        ("\t$(BIN)/python -m tests.e2e.harness.up", True),
        ("from retrodiction_harness.cluster import Kube", False),
        ("# the tests. folder", False),
    ],
)
def test_the_import_pattern_finds_imports_of_the_test_tree(line: str, found: bool) -> None:
    assert bool(TEST_TREE_IMPORT.search(line)) is found


def test_the_pytest_plugin_is_registered_and_imports_no_cluster_library() -> None:
    """pytest loads the plugin in every run, unit tests too: its import must stay cheap."""
    probe = (
        "import sys; from importlib.metadata import entry_points; "
        "[plugin] = [e for e in entry_points(group='pytest11') if e.name == 'retrodiction_harness']; "
        "plugin.load(); print(sorted(m for m in ('kubernetes', 'cryptography', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
