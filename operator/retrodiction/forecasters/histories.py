"""What a custom model sees of a series' past at an origin: the rows within its lookback, gaps handled by policy."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

GapPolicy = Literal["interpolate", "skip"]


def fill_gaps(column: NDArray[np.float64]) -> NDArray[np.float64]:
    """`column` with every missing value that lies between two observations filled linearly between them.

    Values before the first and after the last observation stay missing. A filled value depends only on the two
    observations around it, so a history that ends at an observation never holds a value derived from later rows.
    """
    observed = np.flatnonzero(~np.isnan(column))
    filled = np.array(column, dtype=np.float64, copy=True)
    if len(observed) < 2:
        return filled
    inside = np.arange(observed[0], observed[-1] + 1)
    filled[inside] = np.interp(inside, observed, column[observed])
    return filled


class SeriesHistory:
    """The histories of one series at its origins (row indices of the batch's frame)."""

    def __init__(self, column: NDArray[np.float64], lookback: int, gaps: GapPolicy) -> None:
        self._raw = np.asarray(column, dtype=np.float64)
        self._observed = ~np.isnan(self._raw)
        self._values = fill_gaps(self._raw) if gaps == "interpolate" else self._raw
        self._lookback = lookback
        # The last observation at or before each row (-1: none yet), found once for the whole column.
        positions = np.where(self._observed, np.arange(len(self._raw)), -1)
        self._last_observed = np.maximum.accumulate(positions) if len(positions) else positions

    def observed(self, row: int) -> bool:
        return bool(self._observed[row])

    def until(self, row: int) -> NDArray[np.float64] | None:
        """The history a model sees at `row`: the rows of the lookback window that end at the last observation at or
        before `row`, from the window's first observation on. None when it holds no value or (policy skip) a gap.

        An origin whose own value is missing is skipped by the caller; a refit point whose value is missing fits on
        the history up to the observation before it, never on rows after it.
        """
        end = int(self._last_observed[row])
        if end < 0:
            return None
        window = self._observed[max(0, row - self._lookback + 1) : end + 1]
        if not window.any():
            return None
        start = max(0, row - self._lookback + 1) + int(np.argmax(window))
        history = self._values[start : end + 1]
        if np.isnan(history).any():  # policy skip: a gap inside the window
            return None
        return np.ascontiguousarray(history)
