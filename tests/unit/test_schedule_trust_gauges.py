"""A schedule's latest trust as Prometheus gauges: reported by its run's driver in the capped report, labelled
only from the run's spec, replaced by each newer run and dropped with the schedule."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from retrodiction.api.report import DriverReport, ReportedTrust
from retrodiction.api.summary import parse_summary
from retrodiction.controller import metrics
from retrodiction.driver.report import reported_trust
from retrodiction.report.compare import compare
from tests.unit.test_report_samples import make_summary
from tests.unit.test_run_lifecycle import FakeApi, running_run, step

MODELS = ["naive", "seasonal_naive", "window_average", "drift", "ses"]


def gauge(name: str, schedule: str, model: str, horizon: int, namespace: str = "team-a") -> float | None:
    labels = {"namespace": namespace, "schedule": schedule, "model": model, "horizon": str(horizon)}
    return REGISTRY.get_sample_value(name, labels)


def test_the_reported_trust_is_the_mean_over_variables_diff_shows() -> None:
    summary = parse_summary(make_summary(("gdp", "cpi", "unemp"), horizons=(1, 4)))
    trust = reported_trust(summary, MODELS, [4, 1])  # the spec's horizon order
    for change in compare(summary, summary).changes:
        position = [4, 1].index(change.horizon)
        assert trust.mean[change.model][position] == pytest.approx(change.a.mean, abs=1e-4)
        assert trust.lower[change.model][position] == pytest.approx(change.a.lower, abs=1e-4)


def test_a_model_that_scored_nothing_reports_none() -> None:
    summary = parse_summary(make_summary(("gdp",), models=("naive",), horizons=(1,)))
    assert reported_trust(summary, ["naive", "ets"], [1, 7]).mean == {
        "naive": [pytest.approx(summary.results[0].trust.mean, abs=1e-4), None],
        "ets": [None, None],
    }


@pytest.mark.parametrize(
    "trust",
    [
        {"mean": {f"m{i}": [0.5] for i in range(22)}},
        {"mean": {"naive": [0.5] * 65}},
        {"mean": {"naive": [1.5]}},
        {"mean": {'naive"} injected': [0.5]}},
    ],
    ids=["too-many-models", "too-many-horizons", "above-1", "not-a-model-name"],
)
def test_a_trust_section_out_of_bounds_is_refused(trust: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DriverReport.model_validate(
            {"runUid": "u", "state": "Succeeded", "updated": "2026-06-01T12:00:00Z", "trust": trust}
        )


def test_gauges_are_labelled_from_the_spec_and_replaced_by_the_next_run() -> None:
    trust = ReportedTrust(mean={"naive": [0.61, 0.42], "sneaky": [0.9, 0.9]}, lower={"naive": [0.5, None]})
    metrics.set_schedule_trust("team-a", "nightly", trust, ["naive", "ses"], [1, 7])
    assert gauge("retrodiction_schedule_trust", "nightly", "naive", 1) == 0.61
    assert gauge("retrodiction_schedule_trust", "nightly", "naive", 7) == 0.42
    assert gauge("retrodiction_schedule_trust_lower", "nightly", "naive", 1) == 0.5
    assert gauge("retrodiction_schedule_trust_lower", "nightly", "naive", 7) is None
    assert gauge("retrodiction_schedule_trust", "nightly", "sneaky", 1) is None  # not in the spec
    metrics.set_schedule_trust("team-a", "nightly", ReportedTrust(mean={"ses": [0.3, None]}), ["ses"], [1, 7])
    assert gauge("retrodiction_schedule_trust", "nightly", "naive", 1) is None
    assert gauge("retrodiction_schedule_trust", "nightly", "ses", 1) == 0.3
    metrics.forget_schedule("team-a", "nightly")
    assert gauge("retrodiction_schedule_trust", "nightly", "ses", 1) is None


SCHEDULE_OWNER = {
    "apiVersion": "training.retrodiction.dev/v1alpha1",
    "kind": "RetrodictionSchedule",
    "name": "weekly",
    "uid": "schedule-uid",
    "controller": True,
}


@pytest.mark.parametrize("owned", [True, False], ids=["a-schedules-run", "a-run-made-by-hand"])
def test_a_schedules_run_that_succeeds_sets_its_schedules_gauges(owned: bool) -> None:
    api = FakeApi()
    life, run = running_run(api, retrodiction={"models": ["naive", "drift"], "horizons": [1, 7]})
    if owned:
        run["metadata"]["ownerReferences"] = [SCHEDULE_OWNER]
    trust = {"mean": {"naive": [0.7, 0.4], "drift": [0.65, None]}, "lower": {"naive": [0.6, 0.3]}}
    api.driver_reports(
        state="Succeeded", batches={"total": 10, "succeeded": 10}, completedPercentage=100.0, trust=trust
    )
    api.job_ends("Complete")
    assert step(life)
    assert gauge("retrodiction_schedule_trust", "weekly", "naive", 7) == (0.4 if owned else None)
    assert gauge("retrodiction_schedule_trust", "weekly", "drift", 1) == (0.65 if owned else None)
    metrics.forget_schedule("team-a", "weekly")
