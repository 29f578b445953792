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
