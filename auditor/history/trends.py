"""Arithmetic over the run history's facts, pure: what the checks that judge over time compute.

- IX01 (unused-index) judges an index by its scans across the stored runs of the last N days
  (``RunHistory.indexes``, summed by the store), not since the last statistics reset, so a reset no longer
  blinds it.
- CP03 (growth-projection) fits the growth of each table and of the database by least squares over the runs of
  the last 7 and 30 days (:func:`growth_rate`), not from two points, so one odd run moves it little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


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


class LinearFit:
    """:func:`growth_rate` for many series over the same run times: the times' part of the least squares is
    computed once (CP03 fits thousands of tables over the same runs)."""

    def __init__(self, times: Sequence[datetime], days: float, now: datetime) -> None:
        self.times, self.days, self.now = times, days, now
        start = now - timedelta(days=days)
        self.chosen = [k for k, at in enumerate(times) if at >= start]
        first = times[self.chosen[0]] if self.chosen else now
        self.xs = [(times[k] - first).total_seconds() / 86_400 for k in self.chosen]
        self.mean_x = sum(self.xs) / len(self.xs) if self.xs else 0.0
        self.sxx = sum((x - self.mean_x) ** 2 for x in self.xs)

    def rate(self, values: Sequence[int | None], min_points: int = 2) -> Growth | None:
        ys = [values[k] for k in self.chosen]
        if any(y is None for y in ys):  # a table missing from some runs: fit the points it has
            return growth_rate(list(zip(self.times, values, strict=False)), self.days, self.now, min_points)
        if len(ys) < min_points or self.sxx <= 0:
            return None
        mean_y = sum(ys) / len(ys)  # type: ignore[arg-type]
        slope = sum((x - self.mean_x) * (float(y or 0) - mean_y) for x, y in zip(self.xs, ys, strict=True)) \
            / self.sxx
        return Growth(slope, len(ys), self.xs[-1] - self.xs[0])
