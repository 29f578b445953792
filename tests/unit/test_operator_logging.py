"""The operator's log names the run each line is about, once per line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from retrodiction.cli import configure_operator_logging


@pytest.fixture
def restored_root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_every_operator_log_line_about_a_run_starts_with_its_namespace_and_name(
    restored_root_logger: logging.Logger,
) -> None:
    logging.basicConfig()  # what `retrodiction` sets up before it knows the command
    configure_operator_logging("INFO")
    [handler] = restored_root_logger.handlers
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("kopf.objects").info(
        "Handler 'run_training' succeeded.", extra={"k8s_ref": {"namespace": "team-a", "name": "gdp-2024"}}
    )
    logging.getLogger("retrodiction.controller").debug("not at INFO")
    [line] = stream.getvalue().splitlines()
    assert "[team-a/gdp-2024] Handler 'run_training' succeeded." in line
    assert "INFO" in line
