"""The summary document's contract: its frozen shape, the published JSON Schema, and how readers treat documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrodiction.api.summary import RetrodictionSummary, SummaryError, parse_summary
from retrodiction.api.summary_schema import SCHEMA_PATH, render
from tests.unit.test_report_samples import make_summary

REPOSITORY = Path(__file__).resolve().parents[2]

# Every field a summary holds, in the order it is written: other tools read these names, so they are frozen.
FROZEN_FIELDS = [
    "apiVersion",
    "kind",
    "run",
    "run.name",
    "run.namespace",
    "run.uid",
    "run.window",
    "run.window.start",
    "run.window.end",
    "run.window.batchSizeDays",
    "run.startTime",
    "run.completionTime",
    "config",
    "config.data",
    "config.data.uri",
    "config.data.format",
    "config.data.timeColumn",
    "config.retrodiction",
    "config.retrodiction.models",
    "config.retrodiction.horizons",
    "config.retrodiction.seasonLength",
    "config.retrodiction.windowLength",
    "config.retrodiction.sesAlpha",
    "config.retrodiction.tolerance",
    "config.variablesPerBatch",
    "batches",
    "batches.total",
    "batches.succeeded",
    "batches.failed",
    "batches.failures",
    "batches.failures[].id",
    "batches.failures[].error",
    "results",
    "results[].variable",
    "results[].model",
    "results[].horizon",
    "results[].n",
    "results[].skipped",
    "results[].mae",
    "results[].rmse",
    "results[].mase",
    "results[].directionalAccuracy",
    "results[].successes",
    "results[].failures",
    "results[].trust",
    "results[].trust.mean",
    "results[].trust.lower",
    "results[].trust.upper",
]


def field_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Paths of every field in document order; list items contribute their first element's fields as `[]`."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from field_paths(item, path)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        yield from field_paths(value[0], f"{prefix}[]")


def test_checked_in_json_schema_is_what_the_model_generates() -> None:
    checked_in = (REPOSITORY / SCHEMA_PATH).read_text()
    assert checked_in == render(), (
        "docs/reference/summary.schema.json is stale; run: python -m retrodiction.api.summary_schema"
    )


def test_the_schema_requires_every_frozen_top_level_field() -> None:
    schema = json.loads(render())
    assert schema["required"] == ["apiVersion", "kind", "run", "config", "batches", "results"]
    assert schema["properties"]["apiVersion"]["const"] == "training.retrodiction.dev/v1alpha1"


def test_the_model_writes_the_frozen_field_names_in_order() -> None:
    written = parse_summary(make_summary(failed_batches=1)).to_dict()
    assert list(field_paths(written)) == FROZEN_FIELDS


def test_a_summary_read_and_written_again_is_the_same_bytes() -> None:
    text = json.dumps(make_summary(failed_batches=2), indent=2)
    assert json.dumps(parse_summary(text).to_dict(), indent=2) == text


def test_readers_ignore_fields_a_later_writer_added() -> None:
    document = make_summary()
    document["run"]["labels"] = {"team": "a"}
    document["newSection"] = [1, 2]
    summary = parse_summary(document)
    assert summary.to_dict() == make_summary()


def test_the_batch_id_of_a_failure_is_batch_id_in_python_and_id_in_the_document() -> None:
    summary = parse_summary(make_summary(failed_batches=1))
    assert summary.batches.failures[0].batch_id == "000000-0000"
    assert summary.to_dict()["batches"]["failures"][0] == {
        "id": "000000-0000",
        "error": summary.batches.failures[0].error,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(kind="ConfigMap"), "kind: 'ConfigMap' is not 'RetrodictionSummary'"),
        (
            lambda d: d.update(apiVersion="training.retrodiction.dev/v2"),
            "apiVersion: 'training.retrodiction.dev/v2' is not",
        ),
        (lambda d: d["results"][0].update(n="many"), "results[0].n: Input should be a valid integer"),
        (lambda d: d["run"].pop("window"), "run.window: required field is missing"),
        (lambda d: d["run"].update(startTime="2026-11-29T08:00:00"), "run.startTime: Input should have timezone info"),
    ],
)
def test_a_foreign_or_corrupt_document_is_refused_in_one_line_naming_the_field(change: Any, message: str) -> None:
    document = make_summary()
    change(document)
    with pytest.raises(SummaryError) as raised:
        parse_summary(json.dumps(document))
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith(f"not a RetrodictionSummary: {message}")


def test_text_that_is_not_json_is_refused_in_one_line() -> None:
    with pytest.raises(SummaryError, match=r"^not a RetrodictionSummary: <root>: Invalid JSON"):
        parse_summary(b'{"apiVersion": ')


def test_nan_is_refused_because_json_has_none() -> None:
    document = make_summary()
    document["results"][0]["mae"] = float("nan")
    with pytest.raises(SummaryError, match=r"results\[0\]\.mae"):
        parse_summary(document)


def test_a_summary_round_trips_through_its_json_form() -> None:
    summary = parse_summary(make_summary())
    assert isinstance(summary, RetrodictionSummary)
    assert parse_summary(summary.to_dict()) == summary
