"""Kopf's view of the operator: decorators only, each delegating to a plain function.

A run lives in one daemon per RetrodictionTraining: Kopf starts it for every unfinished run, also for those that
existed before the operator (re)started, and stops it when the run is deleted or the operator exits.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import kopf

from retrodiction.api.status import Phase
from retrodiction.api.training import GROUP, VERSION
from retrodiction.controller.app import OperatorApp, configure_kopf
from retrodiction.controller.kube import PLURAL, SCHEDULES
from retrodiction.controller.runner import RunContext, Runner, expire_if_due
from retrodiction.controller.schedules import ScheduleContext, reconcile_schedule

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


# On deletion or shutdown the run is first asked to stop (it checks twice a second and returns within seconds);
# only after cancellation_backoff would Kopf cancel it by force. Without a backoff Kopf cancels at once, which
# abandons the thread and leaves the finalizer in place.
@kopf.daemon(
    GROUP, VERSION, PLURAL, when=_unfinished, cancellation_backoff=60.0, cancellation_timeout=30.0, backoff=10.0
)
def run_training(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    app: OperatorApp = memo.app

    def operator_going_away() -> bool:
        # The run must go on without us: leave its batches running on the scheduler for the next operator.
        going = kopf.DaemonStoppingReason.OPERATOR_EXITING | kopf.DaemonStoppingReason.OPERATOR_PAUSING
        return stopped.reason is not None and bool(stopped.reason & going)

    runner = Runner(
        RunContext(api=app.api, settings=app.settings, body=body, stopped=stopped, detach_on_stop=operator_going_away)
    )
    try:
        runner.run()
    except Exception as error:
        # Kopf retries a failed daemon after `backoff`; an error that persists ends the run instead of looping.
        if retry + 1 >= MAX_ATTEMPTS:
            runner.give_up(error)
            return
        raise


@kopf.timer(GROUP, VERSION, PLURAL, when=_expiring, interval=EXPIRY_CHECK_SECONDS, initial_delay=1.0)
def expire_finished_run(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    remaining = expire_if_due(memo.app.api, body, datetime.now(UTC))
    # Due before the next check: wait for it here rather than give the run a whole extra interval.
    if remaining is not None and 0 < remaining < EXPIRY_CHECK_SECONDS:
        time.sleep(remaining)
        expire_if_due(memo.app.api, body, datetime.now(UTC))


@kopf.timer(GROUP, VERSION, SCHEDULES, interval=SCHEDULE_CHECK_SECONDS, initial_delay=0.5)
def run_schedule(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    app: OperatorApp = memo.app
    reconcile_schedule(ScheduleContext(api=app.api, body=body, now=app.clock()))
