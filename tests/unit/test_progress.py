import pytest

from retrodiction.execution.progress import ProgressTracker
from retrodiction.execution.task import BatchOutcome


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_reports_counts_percentage_and_eta_from_this_sessions_rate() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(10, resumed=2, clock=clock)
    assert tracker.snapshot().estimated_remaining_seconds is None
    clock.now += 4.0
    tracker.record(BatchOutcome.SUCCEEDED)
    progress = tracker.record(BatchOutcome.FAILED)
    # 2 batches done here in 4 s, 6 left: 12 s to go; resumed batches do not inflate the rate.
    assert progress.estimated_remaining_seconds == 12.0
    doc = progress.to_dict()
    assert doc["progress"] == "4/10"
    assert doc["completed_percentage"] == 40.0
    assert (doc["succeeded"], doc["failed"], doc["resumed"]) == (3, 1, 2)


def test_finished_progress_has_zero_eta_and_full_percentage() -> None:
    tracker = ProgressTracker(1, clock=FakeClock())
    progress = tracker.record(BatchOutcome.SUCCEEDED)
    assert progress.estimated_remaining_seconds == 0.0
    assert progress.completed_percentage == 100.0


def test_the_remaining_time_follows_work_not_batch_counts() -> None:
    clock = FakeClock()
    # A big batch (90 units of targets x variables) and a small one (10): after the big one, 10% of the work is left.
    tracker = ProgressTracker(2, clock=clock, total_work=100.0)
    clock.now += 9.0
    progress = tracker.record(BatchOutcome.SUCCEEDED, work=90.0)
    assert progress.estimated_remaining_seconds == pytest.approx(1.0)


def test_progress_names_the_model_that_takes_the_time() -> None:
    tracker = ProgressTracker(3, clock=FakeClock())
    tracker.record(BatchOutcome.SUCCEEDED, model_seconds={"naive": 0.001, "ets": 2.0})
    progress = tracker.record(BatchOutcome.SUCCEEDED, model_seconds={"naive": 0.001, "ets": 1.998})
    assert progress.model_seconds == {"naive": pytest.approx(0.002), "ets": pytest.approx(3.998)}
    model, share = progress.costliest_model() or ("", 0.0)
    assert model == "ets" and share == pytest.approx(0.9995)
    assert progress.to_dict()["model_seconds"] == {"naive": 0.002, "ets": 3.998}


def test_the_progress_bar_names_the_costliest_of_several_models_and_writes_the_remaining_time() -> None:
    from retrodiction.local_training import costliest_text, remaining_text

    tracker = ProgressTracker(3, clock=FakeClock())
    one = tracker.record(BatchOutcome.SUCCEEDED, model_seconds={"naive": 0.01})
    assert costliest_text(one) == ""  # one model: nothing to compare
    two = tracker.record(BatchOutcome.SUCCEEDED, model_seconds={"naive": 0.01, "ets": 0.48})
    assert costliest_text(two) == "ets 96% of time"
    assert (remaining_text(None), remaining_text(3725.4)) == ("-:--:--", "1:02:05")
