"""Kopf's view of the operator: decorators only, each delegating to a plain function.

A run lives in one daemon per RetrodictionTraining: Kopf starts it for every unfinished run, also for those that
existed before the operator (re)started, and stops it when the run is deleted or the operator exits. The work of
a run is done by its driver Job; the daemon only creates children and follows the driver's report.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import kopf

from retrodiction.api.children import controlling_run_uid
from retrodiction.api.status import Phase
from retrodiction.controller import metrics
from retrodiction.controller.app import OperatorApp, configure_kopf
from retrodiction.controller.lifecycle import RunContext, RunLifecycle, expire_if_due, pause
from retrodiction.controller.schedules import ScheduleContext, reconcile_schedule
from retrodiction.identity import (
    COMPONENT_DRIVER,
    COMPONENT_LABEL,
    GROUP,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SCHEDULES,
    TRAININGS,
    VERSION,
)

# Attempts of a run's daemon that end in an unexpected error before the run is marked Failed.
MAX_ATTEMPTS = 5
# How often finished runs with ttlSecondsAfterFinished are checked.
EXPIRY_CHECK_SECONDS = 5.0
# How often each RetrodictionSchedule looks for due slots and a trigger (a CronJob controller: about 10 s).
SCHEDULE_CHECK_SECONDS = 5.0


def _unfinished(status: kopf.Status, **_: Any) -> bool:
    phase = status.get("phase")
    return phase is None or not Phase(phase).finished


def _expiring(status: kopf.Status, spec: kopf.Spec, **_: Any) -> bool:
    return not _unfinished(status) and (spec.get("execution") or {}).get("ttlSecondsAfterFinished") is not None


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    memo.app = OperatorApp.from_settings(memo.get("operator_settings"))
    configure_kopf(settings, memo.app.settings)
    memo.app.ensure_peering()
    memo.app.serve_metrics()
    logger.info("retrodiction operator started: %s", memo.app.describe())


# One async daemon per unfinished run: it holds no thread, and waits between passes. On deletion, on shutdown and
# when the run finishes (its `when` no longer holds), Kopf sets `stopped` and cancels the task only after the
# backoff: a pass in flight finishes its API calls (each has a timeout) and its Events, and the loop ends.
@kopf.daemon(
    GROUP, VERSION, TRAININGS, when=_unfinished, cancellation_backoff=30.0, cancellation_timeout=30.0, backoff=10.0
)
async def run_training(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    app: OperatorApp = memo.app
    lifecycle = RunLifecycle(RunContext(api=app.api, settings=app.settings, body=body))
    uid = body["metadata"]["uid"]
    waker = app.waker(uid)
    retrying = False
    try:
        while not stopped:
            waker.clear()
            if await lifecycle.step():
                return
            await pause(stopped, waker, app.settings.status_interval_seconds)
    except Exception as error:
        # Kopf retries a failed daemon after `backoff`; an error that persists ends the run instead of looping.
        if retry + 1 >= MAX_ATTEMPTS:
            await lifecycle.give_up(error)
            return
        retrying = True
        raise
    finally:
        if not retrying:
            app.forget(uid)


# The run's driver Job changed (a pod started, the Job completed or failed): its run's next pass is now. Kopf
# filters by label on its side, and reads nothing of the Job but its owner.
@kopf.on.event("batch", "v1", "jobs", labels={MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: COMPONENT_DRIVER})
async def driver_job_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.app.wake(controlling_run_uid(body))


@kopf.timer(GROUP, VERSION, TRAININGS, when=_expiring, interval=EXPIRY_CHECK_SECONDS, initial_delay=1.0)
def expire_finished_run(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    remaining = expire_if_due(memo.app.api, body, datetime.now(UTC))
    # Due before the next check: wait for it here rather than give the run a whole extra interval.
    if remaining is not None and 0 < remaining < EXPIRY_CHECK_SECONDS:
        time.sleep(remaining)
        expire_if_due(memo.app.api, body, datetime.now(UTC))


@kopf.on.delete(GROUP, VERSION, SCHEDULES, optional=True)  # optional: no finalizer holds the schedule
def schedule_deleted(body: kopf.Body, **_: Any) -> None:
    metrics.forget_schedule(body["metadata"]["namespace"], body["metadata"]["name"])


@kopf.timer(GROUP, VERSION, SCHEDULES, interval=SCHEDULE_CHECK_SECONDS, initial_delay=0.5)
def run_schedule(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    app: OperatorApp = memo.app
    reconcile_schedule(ScheduleContext(api=app.api, body=body, now=app.clock()))
