"""WL01-WL04 on tiny snapshots: each fires on its case and stays silent on the look-alike."""

from __future__ import annotations

from typing import Any

from auditor.engine import find_check, iter_hits, run_checks
from auditor.model import (
    IndexProposal,
    PlanScan,
    PlanSummary,
    Snapshot,
    Statement,
    WorkloadInfo,
    snapshot_from_json,
    snapshot_to_json,
)
from checks.workload import MissingIndexOptions, NPlusOneOptions, SlowQueryOptions
from tests.builders import pk, snap, table

PGSS = {"pg_stat_statements": "1.10"}
ORDERS = table("orders", ["id", "customer_id", "status text", "created_at timestamptz"], rows=200_000)
USERS = table("users", ["id", "email text"], rows=50_000)


def wl_snap(*statements: Statement, plans: tuple[PlanSummary, ...] = (), **extra: Any) -> Snapshot:
    return snap(ORDERS, pk("orders"), USERS, pk("users"), statements=statements, plans=plans,
                workload=extra.pop("workload", WorkloadInfo()), extensions=extra.pop("extensions", PGSS), **extra)


def stmt(queryid: str, query: str, calls: int = 100, mean: float = 1.0, stddev: float = 0.5,
         lo: float = 0.1, hi: float = 5.0, rows: int | None = None) -> Statement:
    return Statement(queryid=queryid, query=query, calls=calls, total_ms=calls * mean, mean_ms=mean,
                     stddev_ms=stddev, min_ms=lo, max_ms=hi, rows=calls if rows is None else rows)


def codes_for(code: str, s: Snapshot, opts: Any = None) -> list[str | None]:
    spec = find_check(code)
    assert spec is not None
    return [h.object.queryid for h in iter_hits(spec, s, opts)]


# ---- WL01 -----------------------------------------------------------------------------------------------------


def test_slow_query_fires_on_p95_not_on_one_outlier() -> None:
    slow = stmt("1", "SELECT * FROM orders WHERE status = $1", calls=400, mean=80.0, stddev=60.0, lo=20.0,
                hi=900.0)
    outlier = stmt("2", "SELECT * FROM orders WHERE id = $1", calls=5000, mean=1.2, stddev=14.0, lo=0.1,
                   hi=1000.0)
    fast = stmt("3", "SELECT * FROM users WHERE id = $1", calls=100, mean=0.3, stddev=0.1)
    assert codes_for("WL01", wl_snap(slow, outlier, fast)) == ["1"]


def test_slow_query_threshold_edge() -> None:
    flat = stmt("1", "SELECT * FROM orders WHERE status = $1", calls=100, mean=99.0, stddev=0.0, lo=99.0,
                hi=99.0)
    assert codes_for("WL01", wl_snap(flat)) == []
    assert codes_for("WL01", wl_snap(flat), SlowQueryOptions(p95_target_ms=98.0, mean_target_ms=98.0)) == ["1"]


def test_slow_query_ignores_utility_statements() -> None:
    assert codes_for("WL01", wl_snap(stmt("1", "VACUUM orders", calls=1, mean=5000.0, lo=5000, hi=5000))) == []


# ---- WL02 -----------------------------------------------------------------------------------------------------


def proposal(**kw: Any) -> IndexProposal:
    base: dict[str, Any] = {"schema": "public", "table": "orders", "columns": ("customer_id",),
                            "equality": ("customer_id",)}
    base.update(kw)
    return IndexProposal(**base)


def plan(queryid: str, *props: IndexProposal, table_name: str = "orders", rows: float = 20.0) -> PlanSummary:
    return PlanSummary(queryid=queryid, explained=True, total_cost=4000.0,
                       scans=(PlanScan("public", table_name, "Seq Scan", plan_rows=rows),), proposals=props)


def test_missing_index_fires_when_hypopg_confirms() -> None:
    q = stmt("1", "SELECT * FROM orders WHERE customer_id = $1")
    s = wl_snap(q, plans=(plan("1", proposal(verified=True, used=True, cost_before=4000.0, cost_after=12.0)),))
    hits = list(iter_hits(find_check("WL02"), s))  # type: ignore[arg-type]
    assert len(hits) == 1
    assert hits[0].object.columns == ("customer_id",)
    assert hits[0].remediation == (
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);")
    assert "4000.0 -> 12.0" in hits[0].message


def test_missing_index_silent_when_hypopg_sees_no_gain_or_table_small() -> None:
    q = stmt("1", "SELECT * FROM orders WHERE status = $1")
    no_gain = proposal(columns=("status",), equality=("status",), verified=True, used=True, cost_before=4000.0,
                       cost_after=3500.0)
    assert codes_for("WL02", wl_snap(q, plans=(plan("1", no_gain),))) == []
    unused = proposal(verified=True, used=False, cost_before=4000.0, cost_after=4000.0)
    assert codes_for("WL02", wl_snap(q, plans=(plan("1", unused),))) == []
    good = proposal(verified=True, used=True, cost_before=4000.0, cost_after=12.0)
    assert codes_for("WL02", wl_snap(q, plans=(plan("1", good),)), MissingIndexOptions(large_rows=10**6)) == []


def test_missing_index_unverified_uses_selectivity() -> None:
    q = stmt("1", "SELECT * FROM orders WHERE customer_id = $1")
    selective = plan("1", proposal(note="unverified: hypopg is not installed"), rows=20.0)
    broad = plan("1", proposal(note="unverified: hypopg is not installed"), rows=100_000.0)
    assert codes_for("WL02", wl_snap(q, plans=(selective,))) == ["1"]
    assert codes_for("WL02", wl_snap(q, plans=(broad,))) == []


# ---- WL03 -----------------------------------------------------------------------------------------------------


def test_n_plus_one() -> None:
    neighbours = [stmt(str(i), f"SELECT * FROM orders WHERE status = $1 AND id > ${i + 2}", calls=50, rows=500)
                  for i in range(10, 15)]
    hot_pk = stmt("1", "SELECT * FROM users WHERE id = $1", calls=20_000, rows=20_000)
    hot_scan = stmt("2", "SELECT * FROM orders WHERE status = $1", calls=20_000, rows=400_000)
    mild_pk = stmt("3", "SELECT * FROM orders WHERE id = $1", calls=300, rows=300)
    s = wl_snap(hot_pk, hot_scan, mild_pk, *neighbours)
    assert codes_for("WL03", s) == ["1"]
    assert codes_for("WL03", s, NPlusOneOptions(min_calls=100, ratio=5.0)) == ["1", "3"]


# ---- WL04 -----------------------------------------------------------------------------------------------------


def test_offset_pagination() -> None:
    paged = stmt("1", "SELECT * FROM orders ORDER BY created_at DESC LIMIT $1 OFFSET $2")
    keyset = stmt("2", "SELECT * FROM orders WHERE created_at < $1 ORDER BY created_at DESC LIMIT $2")
    named = stmt("3", 'SELECT "offset" FROM orders WHERE "offset" > $1')
    assert codes_for("WL04", wl_snap(paged, keyset, named)) == ["1"]


# ---- preconditions, round trip --------------------------------------------------------------------------------


def test_skipped_without_extension_or_privilege() -> None:
    specs = [find_check(c) for c in ("WL01", "WL02", "WL03", "WL04")]
    no_ext = snap(ORDERS)
    result = run_checks(no_ext, specs)  # type: ignore[arg-type]
    assert len(result.skipped) == 4
    assert all("shared_preload_libraries = 'pg_stat_statements'" in (s.enable or "") for s in result.skipped)
    hidden = wl_snap(workload=WorkloadInfo(status="no_privilege", role="app user", can_read_all=False,
                                           message="3 statements of other roles show as <insufficient privilege>"))
    result = run_checks(hidden, specs)  # type: ignore[arg-type]
    assert [s.enable for s in result.skipped] == ['GRANT pg_read_all_stats TO "app user"'] * 4
    mysql = snap(engine="mysql")
    assert len(run_checks(mysql, specs).skipped) == 4  # type: ignore[arg-type]


def test_workload_snapshot_round_trips() -> None:
    s = wl_snap(stmt("-42", "SELECT * FROM orders WHERE customer_id = $1"),
                plans=(plan("-42", proposal(verified=True, used=True, cost_before=1.5, cost_after=0.5)),),
                workload=WorkloadInfo(not_explained={"utility statement": 2}, extension_version="1.10"))
    assert snapshot_from_json(snapshot_to_json(s)) == s
