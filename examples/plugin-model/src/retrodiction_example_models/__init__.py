"""Example models for retrodiction training's plugin interface (entry point group `retrodiction.models`)."""

from .damped import DampedTrend, make

__all__ = ["DampedTrend", "make"]
