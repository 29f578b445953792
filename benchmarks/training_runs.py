"""What the command-line benchmarks share: a panel of random walks on disk, a manifest for it, and `retrodiction
train` run as people run it (the installed command in a fresh process, start-up included), timed."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import yaml

from retrodiction.data import make_random_walks, write_dataset

COMMAND = str(Path(sys.executable).with_name("retrodiction"))
FIRST_DAY = date(2000, 1, 1)


@dataclass(frozen=True)
class Panel:
    """`series` daily random walks (s0000, s0001, ...) of `points` days from FIRST_DAY, as Parquet at `path`."""

    path: Path
    series: int
    points: int

    @property
    def variables(self) -> list[str]:
        return [f"s{i:04d}" for i in range(self.series)]

    def day(self, index: int) -> date:
        return FIRST_DAY + timedelta(days=index)


class DatedPanel(Protocol):
    """What write_manifest needs of a panel: its file, its series, its rows and the date of each row (daily Panel
    above, or another frequency's)."""

    @property
    def path(self) -> Path: ...

    @property
    def points(self) -> int: ...

    @property
    def variables(self) -> list[str]: ...

    def day(self, index: int) -> date: ...


def write_panel(folder: Path, series: int, points: int, *, seed: int = 0) -> Panel:
    path = folder / f"walks-{series}x{points}.parquet"
    write_dataset(make_random_walks(series, points, seed=seed), str(path), format="parquet")
    return Panel(path, series, points)


def write_manifest(
    panel: DatedPanel, first_target: int, retrodiction: dict[str, object], *, name: str, variables_per_batch: int = 50
) -> Path:
    """A RetrodictionTraining scoring every row from `first_target` to the panel's end, in batches of a year
    (the default) and `variables_per_batch` series (the default 50 unless given)."""
    manifest = {
        "apiVersion": "training.retrodiction.dev/v1alpha1",
        "kind": "RetrodictionTraining",
        "metadata": {"name": name},
        "spec": {
            "variables": panel.variables,
            "window": {
                "start": f"{panel.day(first_target).isoformat()}T00:00:00Z",
                "end": f"{panel.day(panel.points).isoformat()}T00:00:00Z",
            },
            "variablesPerBatch": variables_per_batch,
            "data": {"uri": panel.path.as_uri(), "timeColumn": "date"},
            "retrodiction": retrodiction,
        },
    }
    path = panel.path.with_name(f"{name}.yaml")
    path.write_text(yaml.safe_dump(manifest))
    return path


def timed_train(manifest: Path, *options: str) -> float:
    """Wall seconds of `retrodiction train MANIFEST OPTIONS` from exec to exit, its table going to a pipe."""
    return run_train(manifest, *options)[0]


def run_train(manifest: Path, *options: str) -> tuple[float, str]:
    """timed_train's seconds and the command's stderr (its notes: where the batches ran); the summary goes to
    MANIFEST with the suffix .summary.json."""
    began = time.perf_counter()
    done = subprocess.run(
        [COMMAND, "train", str(manifest), "--output", str(manifest.with_suffix(".summary.json")), *options],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"retrodiction train failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stderr
