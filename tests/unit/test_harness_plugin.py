"""The harness's pytest plugin: which tests it marks e2e."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrodiction_harness.pytest_plugin import in_e2e_folder

ROOT = Path("/repo")


@pytest.mark.parametrize(
    ("path", "marked"),
    [
        ("tests/e2e/test_schedules.py", True),
        ("tests/e2e/realnode/test_node.py", True),
        ("tests/unit/test_e2e_names.py", False),
        ("tests/unit/e2e.py", False),
    ],
)
def test_tests_under_an_e2e_folder_are_e2e_tests(path: str, marked: bool) -> None:
    assert in_e2e_folder(ROOT / path, ROOT) is marked


def test_an_e2e_folder_above_the_rootdir_does_not_count() -> None:
    assert not in_e2e_folder(Path("/e2e/repo/tests/unit/test_x.py"), Path("/e2e/repo"))
