"""Arithmetic over the run history's facts, pure: what the checks that judge over time compute.

- IX01 (unused-index) judges an index by its scans across the stored runs of the last N days
  (:func:`window_scans`), not since the last statistics reset, so a reset no longer blinds it.
- CP03 (growth-projection) fits the growth of each table and of the database by least squares over the runs of
  the last 7 and 30 days (:func:`growth_rate`), not from two points, so one odd run moves it little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditor.model import IndexHistory


@dataclass(frozen=True)
class Window:
    scans: int  # scans counted across the window
    days: float  # the time the window's runs cover
    runs: int  # points in the window (this run included)
    since: datetime


def window_scans(history: IndexHistory, times: Sequence[datetime], resets: Sequence[bool], days: float,
                 now: datetime) -> Window | None:
    """The index's scans across the runs of the last ``days`` (``history.scans`` aligned with ``times``; a
    counter that went down, or a reset, counts from the reset); None with fewer than two figures."""
    start = now - timedelta(days=days)
    points = [(at, scans, reset) for at, scans, reset in zip(times, history.scans, resets, strict=False)
              if at >= start and scans is not None]
    if len(points) < 2:
        return None
    total = 0
    for (_, before, _), (_, after, reset) in zip(points, points[1:], strict=False):
        assert before is not None and after is not None
        total += after if reset or after < before else after - before
    return Window(total, (points[-1][0] - points[0][0]).total_seconds() / 86_400, len(points), points[0][0])


@dataclass(frozen=True)
class Growth:
    per_day: float  # least-squares slope
    points: int
    days: float  # the span the points cover


def growth_rate(points: Sequence[tuple[datetime, int | None]], days: float, now: datetime,
                min_points: int = 2) -> Growth | None:
    """The least-squares slope (units per day) of the values of the last ``days``; None with fewer than
    ``min_points`` points or points all at one moment."""
    chosen = [(at, v) for at, v in points if v is not None and at >= now - timedelta(days=days)]
    if len(chosen) < min_points:
        return None
    xs = [(at - chosen[0][0]).total_seconds() / 86_400 for at, _ in chosen]
    ys = [float(v) for _, v in chosen if v is not None]
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx <= 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    return Growth(slope, len(chosen), xs[-1] - xs[0])
