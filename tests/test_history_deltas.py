"""Interval figures, resets and regressions between two recorded runs, on records built in the test (pure)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from auditor.history.deltas import (
    detect_resets,
    finding_changes,
    statement_deltas,
    table_deltas,
)
from auditor.history.model import HistoryOptions
from auditor.history.record import RunRecord, StatementCounters, TableCounters, statement_fingerprint
from auditor.model import Finding, ObjectRef, Severity

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)
OPTS = HistoryOptions()


def stmt(calls: int, total: float, *, query: str = "SELECT * FROM t WHERE id = $1", user: str = "app",
         sd: float = 0.0, interval: tuple[int, float] | None = None, since: datetime | None = None,
         mn: float = 0.0, mx: float = 1e6) -> StatementCounters:
    mean = total / calls if calls else 0.0
    return StatementCounters(
        fingerprint=statement_fingerprint(query, "postgresql"), database="shop", user=user, toplevel=True,
        query=query, calls=calls, total_ms=total, sumsq_ms=calls * (sd**2 + mean**2), min_ms=mn, max_ms=mx,
        rows=calls, interval_calls=interval[0] if interval else None,
        interval_mean_ms=interval[1] if interval else None, stats_since=since)


def run(at: datetime, engine: str = "postgresql", **fields: object) -> RunRecord:
    return RunRecord(target="postgresql://app@db/shop", engine=engine, database="shop", started_at=at,
                     collected_at=at, **fields)  # type: ignore[arg-type]


def test_the_interval_is_the_difference_of_the_counters() -> None:
    result = statement_deltas([stmt(100, 200.0)], [stmt(150, 350.0)], False, OPTS)
    [s] = result.statements
    assert (s.calls, s.total_ms, s.mean_ms, s.rows, s.status, s.reset) == (50, 150.0, 3.0, 50, "steady", False)
    assert result.calls == 50


def test_no_call_in_the_interval_leaves_the_statement_out() -> None:
    assert statement_deltas([stmt(100, 200.0)], [stmt(100, 200.0)], False, OPTS).statements == ()


def test_a_counter_that_went_down_counts_from_its_reset() -> None:
    result = statement_deltas([stmt(1000, 2000.0)], [stmt(30, 90.0)], False, OPTS)
    [s] = result.statements
    assert (s.calls, s.total_ms, s.reset) == (30, 90.0, True) and result.decreased == 1


def test_a_later_stats_since_means_a_reset_even_when_the_counter_grew_back() -> None:
    """PG17's per-entry stats_since catches the reset a lower counter cannot show (30 -> 40 after a reset)."""
    prev = stmt(30, 60.0, since=T0 - DAY)
    cur = stmt(40, 120.0, since=T0 + timedelta(hours=3))
    [s] = statement_deltas([prev], [cur], False, OPTS, prev_seen=T0).statements
    assert (s.calls, s.reset) == (40, True)
    [same] = statement_deltas([prev], [stmt(40, 120.0, since=T0 - DAY)], False, OPTS, prev_seen=T0).statements
    assert (same.calls, same.reset) == (10, False)


def test_after_a_global_reset_every_figure_counts_from_it_and_nothing_vanishes() -> None:
    prev = [stmt(500, 500.0), stmt(10, 10.0, query="SELECT 2")]
    result = statement_deltas(prev, [stmt(7, 14.0)], True, OPTS)
    assert [(s.calls, s.reset) for s in result.statements] == [(7, True)]
    assert result.vanished == ()


def test_new_and_vanished_statements() -> None:
    result = statement_deltas([stmt(10, 10.0, query="SELECT 2")], [stmt(5, 5.0)], False, OPTS)
    assert [s.status for s in result.statements] == ["new"]
    assert result.statements[0].calls == 5
    assert [s.query for s in result.vanished] == ["SELECT 2"]


def test_users_are_kept_apart() -> None:
    result = statement_deltas([stmt(10, 10.0, user="app"), stmt(10, 10.0, user="report")],
                              [stmt(15, 15.0, user="app"), stmt(40, 70.0, user="report")], False, OPTS)
    assert sorted((s.user, s.calls) for s in result.statements) == [("app", 5), ("report", 30)]


def test_regressed_at_the_factor_and_not_below() -> None:
    prev = stmt(100, 200.0, interval=(50, 2.0))  # the previous interval's mean: 2 ms
    at_factor = statement_deltas([prev], [stmt(150, 400.0)], False, OPTS).statements[0]  # 50 calls, 4 ms
    assert at_factor.regressed and at_factor.status == "regressed" and at_factor.previous_mean_ms == 2.0
    below = statement_deltas([prev], [stmt(150, 395.0)], False, OPTS).statements[0]  # 3.9 ms
    assert not below.regressed and below.status == "steady"


def test_regression_needs_enough_calls_and_milliseconds() -> None:
    few = statement_deltas([stmt(100, 200.0, interval=(50, 2.0))], [stmt(109, 290.0)], False, OPTS)
    assert not few.statements[0].regressed  # 9 calls < regression_min_calls
    tiny = statement_deltas([stmt(100, 1.0, interval=(50, 0.01))], [stmt(150, 3.5)], False, OPTS)
    assert tiny.statements[0].mean_ms == 0.05 and not tiny.statements[0].regressed  # 5x, but 0.05 ms
    # no previous interval: judged against the previous cumulative mean
    first = statement_deltas([stmt(100, 100.0)], [stmt(200, 600.0)], False, OPTS).statements[0]
    assert first.previous_mean_ms == 1.0 and first.regressed


def test_interval_p95_of_one_and_two_calls() -> None:
    [one] = statement_deltas([stmt(10, 10.0)], [stmt(11, 15.0)], False, OPTS).statements
    assert one.p95_ms == 5.0
    # two calls of 2 and 6 ms: mean 4, population stddev 2 -> the slower one
    prev = stmt(10, 10.0, sd=0.0)
    cur = dataclasses.replace(stmt(12, 18.0), sumsq_ms=prev.sumsq_ms + 4 + 36)
    [two] = statement_deltas([prev], [cur], False, OPTS).statements
    assert two.p95_ms == 6.0


def test_interval_p95_stays_within_the_recorded_extremes() -> None:
    prev = stmt(1000, 1000.0, sd=0.5, mn=0.2, mx=9.0)
    cur = dataclasses.replace(stmt(2000, 4000.0, mn=0.2, mx=9.0),
                              sumsq_ms=prev.sumsq_ms + 1000 * (3.0**2 + 1.0**2))
    [s] = statement_deltas([prev], [cur], False, OPTS).statements
    assert s.mean_ms == 3.0 and s.p95_ms is not None and 3.0 < s.p95_ms <= 9.0


def test_pg_restart_is_reported_but_counters_judged_alone() -> None:
    prev = run(T0, server_started=T0 - 30 * DAY)
    cur = run(T0 + DAY, server_started=T0 + timedelta(hours=5))
    resets = detect_resets(prev, cur)
    assert [e.kind for e in resets.events] == ["restart"] and not resets.statements and not resets.tables


def test_mysql_uptime_jitter_is_not_a_restart_but_a_restart_resets_everything() -> None:
    prev = run(T0, "mysql", server_started=T0 - 30 * DAY)
    jitter = run(T0 + DAY, "mysql", server_started=T0 - 30 * DAY + timedelta(seconds=2))
    assert detect_resets(prev, jitter).events == ()
    restarted = detect_resets(prev, run(T0 + DAY, "mysql", server_started=T0 + timedelta(hours=1)))
    assert restarted.statements and restarted.tables and restarted.events[0].kind == "restart"


def test_stats_reset_and_pg_stat_statements_reset() -> None:
    prev = run(T0, stats_reset=T0 - 9 * DAY, pgss_reset=T0 - 9 * DAY, pgss_dealloc=0)
    same = run(T0 + DAY, stats_reset=T0 - 9 * DAY, pgss_reset=T0 - 9 * DAY, pgss_dealloc=0)
    assert detect_resets(prev, same).events == ()
    both = detect_resets(prev, run(T0 + DAY, stats_reset=T0 + timedelta(hours=1),
                                   pgss_reset=T0 + timedelta(milliseconds=20), pgss_dealloc=0))
    assert {e.kind for e in both.events} == {"stats_reset", "pg_stat_statements_reset"}
    assert both.statements and both.tables
    evicted = detect_resets(prev, run(T0 + DAY, stats_reset=T0 - 9 * DAY, pgss_reset=T0 - 9 * DAY,
                                      pgss_dealloc=3))
    assert [(e.kind, e.objects) for e in evicted.events] == [("dealloc", 3)] and not evicted.statements
    assert "pg_stat_statements evicted entries 3 times" in evicted.events[0].message


def test_mysql_digests_lost_are_named_as_performance_schema_s() -> None:
    prev = run(T0, "mysql", pgss_dealloc=0)
    [event] = detect_resets(prev, run(T0 + DAY, "mysql", pgss_dealloc=396_877)).events
    assert event.kind == "dealloc" and event.objects == 396_877
    assert "performance_schema had no digest row for 396,877 statement executions" in event.message
    assert "pg_stat_statements" not in event.message


def test_table_growth_per_day_and_scans_of_the_interval() -> None:
    prev = [TableCounters("public", "orders", 1000, 10_000, seq_scan=5, idx_scan=100, dead_rows=10),
            TableCounters("public", "quiet", 10, 8192, seq_scan=1, idx_scan=1, dead_rows=0),
            TableCounters("public", "gone", 10, 8192)]
    cur = [TableCounters("public", "orders", 3000, 30_000, seq_scan=7, idx_scan=160, dead_rows=4),
           TableCounters("public", "quiet", 10, 8192, seq_scan=1, idx_scan=1, dead_rows=0),
           TableCounters("public", "fresh", 5, 8192, seq_scan=0, idx_scan=0)]
    tables, decreased = table_deltas(prev, cur, False, 2 * 86_400)
    by = {t.table: t for t in tables}
    assert set(by) == {"orders", "fresh", "gone"} and decreased == 0  # quiet did not change
    o = by["orders"]
    assert (o.rows_delta, o.bytes_delta, o.growth_bytes_per_day, o.seq_scans, o.idx_scans, o.dead_rows_delta) \
        == (2000, 20_000, 10_000.0, 2, 60, -6)
    assert by["fresh"].status == "new" and by["gone"].status == "dropped"
    reset, decreased = table_deltas(prev[:1], [dataclasses.replace(cur[0], seq_scan=1, idx_scan=3)], False, 86_400)
    assert (reset[0].seq_scans, reset[0].idx_scans, reset[0].reset, decreased) == (1, 3, True, 1)
    # runs an hour apart give a daily rate; minutes apart do not (the change scaled to a day would be noise)
    hourly, _ = table_deltas(prev[:1], cur[:1], False, 3600)
    assert hourly[0].growth_bytes_per_day == 480_000.0
    minutes, _ = table_deltas(prev[:1], cur[:1], False, 3599)
    assert minutes[0].growth_bytes_per_day is None and minutes[0].bytes_delta == 20_000


def _finding(code: str, table: str) -> tuple[str, Finding]:
    f = Finding(code=code, check="x", severity=Severity.WARNING, category="keys",
                object=ObjectRef(type="table", schema="public", table=table), message=f"{table} message")
    return f"{code}:{table}", f


def test_findings_new_resolved_and_not_looked_at() -> None:
    prev = [_finding("KY01", "a"), _finding("KY01", "b"), _finding("IX01", "c")]
    cur = [_finding("KY01", "b"), _finding("KY01", "d")]
    changes = finding_changes([(fp, f.code, (lambda f=f: f)) for fp, f in prev], cur, ran={"KY01"})
    assert [f.object.table for f in changes.new] == ["d"]
    assert [f.object.table for f in changes.resolved] == ["a"]  # IX01 did not run: c is not resolved
    assert changes.carried == ()
    # a finding whose object this run could not see is carried, not resolved
    unseen = finding_changes([(fp, f.code, (lambda f=f: f)) for fp, f in prev], cur, ran={"KY01"},
                             unseen=lambda fp, f: f.object.table == "a")
    assert unseen.resolved == () and [fp for fp, _ in unseen.carried] == ["KY01:a"]


def test_fingerprints_survive_renumbering_and_spacing() -> None:
    pg = statement_fingerprint
    assert pg("SELECT a FROM t WHERE id = $1", "postgresql") == pg("select a\n  from t where id=$7", "postgresql")
    assert pg("SELECT a FROM t WHERE id = $1", "postgresql") != pg("SELECT b FROM t WHERE id = $1", "postgresql")
    my = "SELECT `a` FROM `t` WHERE `id` = ?"
    assert pg(my, "mysql") == pg("select `a`  from `t` where `id` = ?", "mysql")
    assert pg(my, "mysql").startswith("my:")
    assert pg("this is not SQL at all (", "postgresql").startswith("tx:")

