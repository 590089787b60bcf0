"""Snapshots of one database over days, for run-history tests: a growing table, a steady workload."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

from auditor.model import Snapshot, Statement, UserCounters, WorkloadInfo
from tests.builders import NOW, pk, snap, table

LOOKUP = "SELECT * FROM orders WHERE id = $1"
REPORT = "SELECT count(*) FROM orders WHERE created_at > $1"


def day_snapshot(day: int, *, start: datetime = NOW, rows_per_day: int = 10_000, calls_per_day: int = 1_000,
                 loose: bool = True, dsn: str = "postgresql://app@db.internal:5432/shop",
                 hours: float = 0.0, extra: Sequence[object] = (), stats_reset: datetime | None = None) -> Snapshot:
    """The database on ``day`` (+ ``hours``): ``orders`` grows by ``rows_per_day`` rows (100 bytes each), the
    lookup runs ``calls_per_day`` times a day at 2 ms, the report 10 times a day at 50 ms; ``loose`` (no
    primary key: KY01) exists while ``loose`` is true."""
    when = start + timedelta(days=day, hours=hours)
    elapsed = day + hours / 24
    rows = 100_000 + int(rows_per_day * elapsed)
    orders = dataclasses.replace(table("orders", ["id bigint", "created_at timestamptz"], rows=rows),
                                 total_bytes=rows * 100)
    objects: list[object] = [orders, *pk("orders"), *extra]
    if loose:
        objects.append(dataclasses.replace(table("loose", ["x int"], rows=10), total_bytes=8192))
    calls = int(calls_per_day * (elapsed + 1))
    reports = int(10 * (elapsed + 1))
    statements = (
        _statement("1", LOOKUP, calls, 2.0),
        _statement("2", REPORT, reports, 50.0),
    )
    base = snap(*objects, database="shop", dsn=dsn)  # type: ignore[arg-type]
    return dataclasses.replace(base, collected_at=when, server_started=start - timedelta(days=100),
                               stats_reset=stats_reset or start - timedelta(days=100),
                               statements=statements,
                               workload=WorkloadInfo(stats_reset=start - timedelta(days=100), dealloc=0))


def _statement(queryid: str, query: str, calls: int, mean: float) -> Statement:
    total = calls * mean
    return Statement(queryid=queryid, query=query, calls=calls, total_ms=total, mean_ms=mean, stddev_ms=mean / 4,
                     min_ms=mean / 4, max_ms=mean * 10, rows=calls, users={"app": calls},
                     by_user=(UserCounters("app", calls, total, calls * ((mean / 4) ** 2 + mean**2), calls),))
