"""Checks that judge over the run history: IX01's stored window, CP03's growth projection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.audit import AuditSettings, run_audit
from auditor.history.trends import growth_rate
from auditor.report import Report
from checks.growth import GrowthProjectionOptions
from checks.indexes import UnusedIndexOptions
from tests.builders import NOW, index
from tests.history_support import day_snapshot


def _runs(store: Path, days: range, scans: Any = None, reset_at: datetime | None = None) -> list[Report]:
    """A run a day; ``scans(day)`` gives orders_created_at_idx's cumulative scans that day; ``reset_at``: the
    statistics reset the last run sees."""
    out = []
    for d in days:
        extra = [index("orders", ["created_at"], scans=scans(d))] if scans else []
        snap = day_snapshot(d, extra=extra, stats_reset=reset_at if d == days[-1] else None)
        out.append(run_audit(snap, AuditSettings(history=str(store), select=("IX01",))))
    return out


def _ix01(report: Report) -> list[str]:
    return [f.object.index or "" for f in report.findings if f.code == "IX01"]


def test_a_statistics_reset_no_longer_blinds_ix01(tmp_path: Path) -> None:
    """Scanned every day, then the statistics were reset an hour before the scan: the counter says 0, the
    stored window says scanned."""
    reports = _runs(tmp_path / "r.db", range(31), scans=lambda d: 0 if d == 30 else 50 * (d + 1),
                    reset_at=NOW + timedelta(days=30, hours=-1))
    assert _ix01(reports[-1]) == []
    # the same last snapshot without history: young statistics and no other index scanned -> no evidence
    alone = run_audit(day_snapshot(30, extra=[index("orders", ["created_at"], scans=0)],
                                   stats_reset=NOW + timedelta(days=30, hours=-1)), AuditSettings(select=("IX01",)))
    assert _ix01(alone) == []


def test_an_index_unused_for_the_window_is_reported_though_its_counter_is_not_zero(tmp_path: Path) -> None:
    """Used months ago (the counter is 500 since a reset long before), not once in the stored 30 days."""
    reports = _runs(tmp_path / "r.db", range(31), scans=lambda d: 500)
    [finding] = [f for f in reports[-1].findings if f.code == "IX01"]
    assert finding.object.index == "orders_created_at_idx"
    assert "no scans across the 30 days of 31 recorded runs" in finding.message
    assert finding.severity.value == "warning" and finding.details["history_runs"] == 31
    # without history the counter decides: 500 scans, not unused
    plain = run_audit(day_snapshot(30, extra=[index("orders", ["created_at"], scans=500)]),
                      AuditSettings(select=("IX01",)))
    assert _ix01(plain) == []


def test_one_scan_in_the_window_keeps_the_index(tmp_path: Path) -> None:
    reports = _runs(tmp_path / "r.db", range(31), scans=lambda d: 500 if d < 29 else 501)
    assert _ix01(reports[-1]) == []


def test_a_window_shorter_than_min_stats_age_falls_back_to_the_counter(tmp_path: Path) -> None:
    """Five days of runs < min_stats_age_days (7): the counter since the reset (100 days, 500 scans) decides."""
    reports = _runs(tmp_path / "r.db", range(5), scans=lambda d: 500)
    assert _ix01(reports[-1]) == []
    # at exactly 7 days of runs the window judges
    reports = _runs(tmp_path / "s.db", range(8), scans=lambda d: 500)
    assert _ix01(reports[-1]) == ["orders_created_at_idx"]
    # history_days bounds the window: with 3, only 3 days of runs count, fewer than min_stats_age_days
    store = tmp_path / "t.db"
    opts = {"IX01": UnusedIndexOptions(history_days=3)}
    for d in range(8):
        snap = day_snapshot(d, extra=[index("orders", ["created_at"], scans=500)])
        last = run_audit(snap, AuditSettings(history=str(store), select=("IX01",), options=opts))
    assert _ix01(last) == []


def _cp03(report: Report) -> list[tuple[str | None, str]]:
    return [(f.object.table or f.object.database, f.severity.value) for f in report.findings if f.code == "CP03"]


def _growth_runs(store: Path, days: range, **options: Any) -> Report:
    opts = {"CP03": GrowthProjectionOptions(**options)} if options else {}
    report = None
    for d in days:
        snap = day_snapshot(d, rows_per_day=1_000_000)
        report = run_audit(snap, AuditSettings(history=str(store), select=("CP03",), options=opts))
    assert report is not None
    return report


def test_growth_projection_fires_with_the_dates(tmp_path: Path) -> None:
    """orders: 1 M rows (100 MB) a day; at day 30, 30.1 M rows and 3.01 GB: 100 M rows in 70 days (warning),
    10x the size in about 270 days."""
    report = _growth_runs(tmp_path / "r.db", range(31))
    findings = [f for f in report.findings if f.code == "CP03"]
    assert _cp03(report) == [("orders", "warning"), ("shop", "info")]
    orders = findings[0]
    assert orders.details["growth_rows_per_day_30d"] == 1_000_000.0
    assert orders.details["growth_bytes_per_day_7d"] == 100_000_000.0
    assert orders.details["days_to_partition_rows"] == 69.9 and orders.details["runs_30d"] == 31
    assert "100,000,000 rows, the partitioning threshold, around 2027-03-04 (in 70 days)" in orders.message
    assert orders.details["days_to_factor"] == 270.9


def test_growth_projection_stays_silent_beyond_the_horizon_and_for_small_tables(tmp_path: Path) -> None:
    assert _cp03(_growth_runs(tmp_path / "a.db", range(31), horizon_days=60)) == []
    small = _growth_runs(tmp_path / "b.db", range(31), min_bytes=10**13)
    assert _cp03(small) == []
    # the edge: 69.9 days to the threshold
    assert _cp03(_growth_runs(tmp_path / "c.db", range(31), horizon_days=69.8, min_bytes=0)) == []
    assert ("orders", "warning") in _cp03(_growth_runs(tmp_path / "d.db", range(31), horizon_days=70,
                                                       min_bytes=0))


def test_growth_projection_says_how_many_more_runs_it_needs(tmp_path: Path) -> None:
    first = _growth_runs(tmp_path / "a.db", range(1))
    [skip] = [s for s in first.skipped if s.code == "CP03"]
    assert "this is the first: 1 more run needed" in skip.reason and "--history" in (skip.enable or "")
    for n in range(3):  # three runs two hours apart
        hours = run_audit(day_snapshot(0, hours=2 * n), AuditSettings(history=str(tmp_path / "b.db"),
                                                                      select=("CP03",)))
    [skip] = [s for s in hours.skipped if s.code == "CP03"]
    assert "span" in skip.reason and "1 more run needed" in skip.reason
    plain = run_audit(day_snapshot(0), AuditSettings(select=("CP03",)))
    [skip] = [s for s in plain.skipped if s.code == "CP03"]
    assert "--history" in skip.reason


def test_least_squares_is_not_moved_much_by_one_odd_run() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    points: list[tuple[datetime, int | None]] = [(start + timedelta(days=d), 1000 * d) for d in range(31)]
    points[15] = (points[15][0], 50_000)  # a run read mid-bulk-load
    rate = growth_rate(points, 30, start + timedelta(days=30))
    assert rate is not None and 900 < rate.per_day < 1100 and rate.points == 31
    two = (points[15][1] or 0 - 0) / 15  # what two points (day 0, day 15) would say
    assert two > 3000
    assert growth_rate(points[:1], 30, start) is None
