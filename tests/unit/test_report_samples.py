"""Realistic summary documents for the report tests, and proof that they obey the summary contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy.stats import beta

from retrodiction.api.summary import parse_summary

MODELS = ("naive", "seasonal_naive", "window_average", "drift", "ses")
MACRO_VARIABLES = (
    "realgdp",
    "realcons",
    "realinv",
    "realgovt",
    "realdpi",
    "cpi",
    "m1",
    "tbilrate",
    "unemp",
    "pop",
    "infl",
    "realint",
)


def trust_of(successes: int, failures: int) -> dict[str, float]:
    posterior = beta(1 + successes, 1 + failures)
    return {
        "mean": float(posterior.mean()),
        "lower": float(posterior.ppf(0.025)),
        "upper": float(posterior.ppf(0.975)),
    }


def make_result(
    variable: str, model: str, horizon: int, successes: int, failures: int, **metrics: float | None
) -> dict[str, Any]:
    """One result row; metrics default to null, as when nothing was scored."""
    return {
        "variable": variable,
        "model": model,
        "horizon": horizon,
        "n": successes + failures,
        "skipped": 0,
        "mae": metrics.get("mae"),
        "rmse": metrics.get("rmse"),
        "mase": metrics.get("mase"),
        "directionalAccuracy": metrics.get("directionalAccuracy"),
        "successes": successes,
        "failures": failures,
        "trust": trust_of(successes, failures),
    }


def make_summary(
    variables: Sequence[str] = MACRO_VARIABLES,
    models: Sequence[str] = MODELS,
    horizons: Sequence[int] = (1, 4),
    *,
    seed: int = 7,
    failed_batches: int = 0,
) -> dict[str, Any]:
    """A summary whose numbers behave like a real run: skill differs by model, worsens with the horizon."""
    rng = np.random.default_rng(seed)
    skill = dict(zip(models, rng.uniform(0.35, 0.85, len(models)), strict=True))
    results: list[dict[str, Any]] = []
    for variable in variables:
        level = float(10 ** rng.uniform(-1, 4))
        difficulty = float(rng.normal(0, 0.08))
        skipped = int(rng.integers(0, 3))
        for horizon in horizons:
            n = max(0, 80 - 2 * horizon - skipped)
            for model in models:
                p = float(np.clip(skill[model] - 0.04 * horizon + difficulty, 0.02, 0.98))
                successes = int(rng.binomial(n, p))
                mae = level * float(rng.uniform(0.005, 0.05)) * (1 + 0.3 * horizon)
                results.append(
                    {
                        "variable": variable,
                        "model": model,
                        "horizon": horizon,
                        "n": n,
                        "skipped": skipped,
                        "mae": mae,
                        "rmse": mae * float(rng.uniform(1.1, 1.5)),
                        "mase": float(rng.lognormal(np.log(1.6 - p), 0.25)),
                        "directionalAccuracy": float(rng.uniform(0.4, 0.85)),
                        "successes": successes,
                        "failures": n - successes,
                    }
                )
    # One vectorised call instead of one frozen distribution per row keeps 10^4-row samples fast.
    a = np.array([1 + r["successes"] for r in results])
    b = np.array([1 + r["failures"] for r in results])
    means = np.atleast_1d(beta.mean(a, b))
    lowers = np.atleast_1d(beta.ppf(0.025, a, b))
    uppers = np.atleast_1d(beta.ppf(0.975, a, b))
    for result, mean, lower, upper in zip(results, means, lowers, uppers, strict=True):
        result["trust"] = {"mean": float(mean), "lower": float(lower), "upper": float(upper)}
    succeeded = 40 - failed_batches
    return {
        "apiVersion": "training.retrodiction.dev/v1alpha1",
        "kind": "RetrodictionSummary",
        "run": {
            "name": "macro",
            "namespace": None,
            "uid": "2f1c6a0e-8a7d-4b8e-9a57-1d0c8f1a3b52",
            "window": {"start": "1990-01-01T00:00:00Z", "end": "2009-10-01T00:00:00Z", "batchSizeDays": 365},
            "startTime": "2026-11-29T08:00:00Z",
            "completionTime": "2026-11-29T08:03:09Z",
        },
        "config": {
            "data": {"uri": "builtin://macrodata", "format": "auto", "timeColumn": "date"},
            "retrodiction": {
                "models": list(models),
                "horizons": list(horizons),
                "seasonLength": 4,
                "windowLength": 8,
                "sesAlpha": 0.3,
                "tolerance": 1.0,
            },
            "variablesPerBatch": 50,
        },
        "batches": {
            "total": 40,
            "succeeded": succeeded,
            "failed": failed_batches,
            "failures": [
                {"id": f"{index:06d}-0000", "error": "KilledWorker: worker tcp://127.0.0.1:4100 died"}
                for index in range(failed_batches)
            ],
        },
        "results": results,
    }


def summary_of(*results: dict[str, Any]) -> dict[str, Any]:
    """A valid summary around the given result rows."""
    return {**make_summary(variables=()), "results": list(results)}


def test_sample_counts_add_up_and_trust_is_the_beta_posterior() -> None:
    summary = make_summary()
    for result in summary["results"]:
        assert result["successes"] + result["failures"] == result["n"]
        posterior = beta(1 + result["successes"], 1 + result["failures"])
        assert result["trust"]["mean"] == pytest.approx(posterior.mean())
        assert result["trust"]["lower"] < result["trust"]["mean"] < result["trust"]["upper"]


def test_sample_covers_every_variable_model_and_horizon() -> None:
    summary = make_summary()
    keys = {(r["variable"], r["model"], r["horizon"]) for r in summary["results"]}
    assert len(keys) == len(summary["results"]) == len(MACRO_VARIABLES) * len(MODELS) * 2


def test_samples_are_valid_summary_documents() -> None:
    summary = make_summary(failed_batches=2)
    assert parse_summary(summary).to_dict() == summary
