"""Pure workload analysis: latency models and their mixture, parse-tree shapes, index proposals, coverage."""

from __future__ import annotations

import dataclasses
import random
import statistics

import pytest

from auditor.model import (
    Column,
    ColumnSample,
    IndexProposal,
    PlanScan,
    PlanSummary,
    Sampling,
    Statement,
    TableSample,
    WorkloadInfo,
)
from auditor.workload import (
    LatencyModel,
    analyze_query,
    index_coverage,
    mixture_quantile,
    mixture_quantiles,
    propose_index,
    single_row_lookup,
    workload_percentiles,
)
from tests.builders import index, pk, snap, table, unique


def stmt_of(samples: list[float], query: str = "SELECT 1", queryid: str = "1") -> Statement:
    """What pg_stat_statements would record for these per-call latencies."""
    return Statement(queryid=queryid, query=query, calls=len(samples), total_ms=sum(samples),
                     mean_ms=statistics.fmean(samples), stddev_ms=statistics.pstdev(samples),
                     min_ms=min(samples), max_ms=max(samples), rows=len(samples))


def true_quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- per-statement model --------------------------------------------------------------------------------------


def test_one_call_is_its_value() -> None:
    model = LatencyModel.of(stmt_of([42.0]))
    assert model.quantile(0.5) == model.quantile(0.99) == 42.0


def test_two_calls_are_min_and_max() -> None:
    model = LatencyModel.of(stmt_of([10.0, 30.0]))
    assert model.quantile(0.5) == 10.0
    assert model.quantile(0.95) == 30.0


def test_constant_latency_is_a_point() -> None:
    assert LatencyModel.of(stmt_of([5.0] * 100)).quantile(0.99) == 5.0


def test_lognormal_samples_are_recovered() -> None:
    rng = random.Random(7)
    samples = [2.0 + rng.lognormvariate(1.0, 0.6) for _ in range(20_000)]
    model = LatencyModel.of(stmt_of(samples))
    for q in (0.5, 0.95, 0.99):
        assert model.quantile(q) == pytest.approx(true_quantile(samples, q), rel=0.06)


def test_estimate_never_leaves_min_max() -> None:
    samples = [1.0] * 98 + [1000.0, 1000.0]
    model = LatencyModel.of(stmt_of(samples))
    for q in (0.01, 0.5, 0.95, 0.999):
        assert 1.0 <= model.quantile(q) <= 1000.0


def test_quantile_and_cdf_agree() -> None:
    model = LatencyModel(calls=500, mean=20.0, stddev=15.0, low=3.0, high=400.0)
    for q in (0.3, 0.5, 0.9, 0.95, 0.99):
        assert model.cdf(model.quantile(q)) == pytest.approx(q, abs=1e-6)


# ---- mixture ----------------------------------------------------------------------------------------------------


def test_mixture_of_one_is_the_model() -> None:
    model = LatencyModel(calls=500, mean=20.0, stddev=15.0, low=3.0, high=400.0)
    assert mixture_quantile([model], 0.95) == pytest.approx(model.quantile(0.95), rel=1e-4)


def test_mixture_is_calls_weighted() -> None:
    fast = LatencyModel.of(stmt_of([1.0] * 900))
    slow = LatencyModel.of(stmt_of([100.0] * 100))
    assert mixture_quantile([fast, slow], 0.5) == pytest.approx(1.0)
    assert mixture_quantile([fast, slow], 0.89) == pytest.approx(1.0)
    assert mixture_quantile([fast, slow], 0.95) == pytest.approx(100.0, rel=1e-4)


def test_mixture_matches_pooled_samples() -> None:
    rng = random.Random(3)
    a = [rng.lognormvariate(0.0, 0.4) for _ in range(8000)]
    b = [30 + rng.lognormvariate(2.0, 0.5) for _ in range(800)]
    models = [LatencyModel.of(stmt_of(a)), LatencyModel.of(stmt_of(b))]
    pooled = a + b
    for q in (0.5, 0.95, 0.99):
        assert mixture_quantile(models, q) == pytest.approx(true_quantile(pooled, q), rel=0.1)


def _plain_mixture_quantile(models: list[LatencyModel], q: float, weights: list[float] | None = None) -> float:
    """The bisection of mixture_quantile over each model's own CDF, as it was before its loop was written out."""
    w = list(weights) if weights is not None else [float(m.calls) for m in models]
    total = sum(w)

    def cdf(x: float) -> float:
        return sum(wi * m.cdf(x) for wi, m in zip(w, models, strict=True)) / total

    lo, hi = min(m.low for m in models), max(m.high for m in models)
    if cdf(lo) >= q:
        return lo
    for _ in range(100):
        mid = (lo + hi) / 2
        if cdf(mid) >= q:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-6 * max(1.0, hi):
            break
    return hi


def test_mixture_is_the_models_cdfs_summed_to_the_bit() -> None:
    rng = random.Random(11)
    for _ in range(200):
        models = []
        for _ in range(rng.choice([1, 2, 3, 10, 200])):
            low = rng.choice([0.0, 0.01, 1.0, 5.0])
            mean = low + rng.random() * 50
            models.append(LatencyModel(calls=rng.choice([1, 2, 3, 50, 1000]), mean=mean,
                                       stddev=rng.choice([0.0, rng.random() * 30]), low=low,
                                       high=mean + rng.choice([0.0, rng.random() * 500]), shifted=rng.random() < 0.8))
        weights = None if rng.random() < 0.7 else [rng.choice([1.0, 2.5, 7.0]) for _ in models]
        for q in (0.0, 0.5, 0.95, 0.99, 1.0):
            assert mixture_quantile(models, q, weights) == _plain_mixture_quantile(models, q, weights)
        qs = (0.5, 0.95, 0.99, 0.0, 0.95, 1.0)  # in any order, repeated: each as if alone, to the bit
        assert mixture_quantiles(models, qs, weights) == tuple(_plain_mixture_quantile(models, q, weights)
                                                               for q in qs)


def test_workload_percentiles_skip_session_statements() -> None:
    s = snap(
        statements=(stmt_of([1.0] * 99 + [2.0], "SELECT * FROM t WHERE id = $1", "1"),
                    stmt_of([900.0] * 1000, "COMMIT", "2")),
        workload=WorkloadInfo(),
    )
    lat = workload_percentiles(s)
    assert lat.statements == 1 and lat.calls == 100
    assert lat.p99_ms is not None and lat.p99_ms <= 2.0


def test_workload_percentiles_without_workload_say_why() -> None:
    lat = workload_percentiles(snap())
    assert lat.p95_ms is None and lat.reason
    lat = workload_percentiles(snap(workload=WorkloadInfo(status="not_installed", message="not installed")))
    assert lat.p95_ms is None and lat.reason == "not installed"


# ---- parse tree -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "kind"), [
    ("SELECT * FROM t WHERE id = $1", "select"),
    ("UPDATE t SET a = $1 WHERE id = $2", "update"),
    ("INSERT INTO t VALUES ($1)", "insert"),
    ("DELETE FROM t WHERE id = $1", "delete"),
    ("BEGIN", "session"),
    ("SET work_mem = $1", "session"),
    ("VACUUM t", "utility"),
    ("CREATE TABLE x (a int)", "utility"),
    ("SELEC nonsense", "unparsed"),
])
def test_kinds(query: str, kind: str) -> None:
    assert analyze_query(query).kind == kind


def test_offset_found_in_the_tree_not_the_text() -> None:
    assert analyze_query("SELECT * FROM posts ORDER BY id LIMIT $1 OFFSET $2").has_offset
    assert analyze_query("SELECT * FROM (SELECT * FROM p OFFSET $1) s").has_offset
    assert not analyze_query('SELECT "offset", $1 AS note FROM pages WHERE "offset" > $2').has_offset
    assert not analyze_query("SELECT * FROM posts WHERE id > $1 ORDER BY id LIMIT $2").has_offset


def test_catalog_only() -> None:
    assert analyze_query("SELECT * FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace").catalog_only
    assert analyze_query("SELECT * FROM information_schema.tables").catalog_only
    assert not analyze_query("SELECT * FROM pg_class JOIN orders ON true").catalog_only
    assert not analyze_query("SELECT pg_sleep($1)").catalog_only


def test_column_uses() -> None:
    shape = analyze_query(
        "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.status IN ($1, $2) AND o.created_at >= $3 AND (o.a = $4 OR o.b = $5) ORDER BY o.created_at LIMIT $6"
    )
    uses = {(u.qualifier, u.column, u.kind) for u in shape.scopes[0].uses}
    assert ("o", "status", "eq") in uses
    assert ("o", "created_at", "range") in uses
    assert ("o", "customer_id", "join") in uses
    assert ("o", "created_at", "sort") in uses
    assert not any(u.column in ("a", "b") for u in shape.scopes[0].uses)  # OR: no single index


# ---- index proposal -------------------------------------------------------------------------------------------

ORDERS = table("orders", ["id", "customer_id", "status text", "created_at timestamptz", "total numeric"],
               rows=100_000)


def test_equality_first_then_range() -> None:
    s = snap(ORDERS, pk("orders"))
    p = propose_index(s, "SELECT * FROM orders WHERE created_at > $1 AND customer_id = $2", "public", "orders")
    assert p is not None
    assert p.columns == ("customer_id", "created_at")
    assert p.equality == ("customer_id",) and p.range == ("created_at",)


def test_sort_with_limit() -> None:
    s = snap(ORDERS, pk("orders"))
    p = propose_index(s, "SELECT * FROM orders o WHERE o.status = $1 ORDER BY o.created_at DESC LIMIT $2",
                      "public", "orders")
    assert p is not None and p.columns == ("status", "created_at") and p.sort == ("created_at",)


def test_no_proposal_without_predicate() -> None:
    s = snap(ORDERS, pk("orders"))
    assert propose_index(s, "SELECT count(*) FROM orders", "public", "orders") is None
    # an expression of one column: an expression index (WL02 keeps it only with hypopg's verdict)
    p = propose_index(s, "SELECT * FROM orders WHERE lower(status) = $1", "public", "orders")
    assert p is not None and (p.columns, p.expression, p.equality) == (("status",), "lower(status)", ())
    with_it = snap(ORDERS, pk("orders"), index("orders", ["(lower((status)::text))"]))
    assert propose_index(with_it, "SELECT * FROM orders WHERE lower(status) = $1", "public", "orders") is None
    # a plain column beside it: the plain proposal
    p = propose_index(s, "SELECT * FROM orders WHERE lower(status) = $1 AND customer_id = $2", "public", "orders")
    assert p is not None and p.columns == ("customer_id",) and p.expression is None


def test_no_proposal_when_an_index_leads_with_the_columns() -> None:
    query = "SELECT * FROM orders WHERE status = $1 AND customer_id = $2"
    covered = snap(ORDERS, pk("orders"), index("orders", ["customer_id", "status", "total"]))
    assert propose_index(covered, query, "public", "orders") is None
    other_order = snap(ORDERS, pk("orders"), index("orders", ["total", "customer_id", "status"]))
    assert propose_index(other_order, query, "public", "orders") is not None


def test_join_columns_when_no_value_equality() -> None:
    s = snap(ORDERS, pk("orders"), table("customers", ["id", "email text"]), pk("customers"))
    p = propose_index(s, "SELECT * FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.email = $1",
                      "public", "orders")
    assert p is not None and p.columns == ("customer_id",)


TICKETS = table("tickets", ["id", "organization_id", Column("priority", "integer", n_distinct=4.0),
                            Column("created_at", "timestamptz", n_distinct=-0.9)], rows=60_000)
COMMENTS = table("ticket_comments", ["id", "ticket_id", "body text"], rows=200_000)
JOIN_AGGREGATE = ("SELECT t.organization_id, count(*), avg(length(c.body)) FROM tickets t "
                  "JOIN ticket_comments c ON c.ticket_id = t.id WHERE t.priority >= $1 "
                  "GROUP BY t.organization_id ORDER BY 2 DESC LIMIT 10")


def test_join_column_led_by_the_primary_key_gives_no_proposal() -> None:
    """Red team 2: the join reaches tickets through its one-column primary key; (id, priority) adds nothing."""
    s = snap(TICKETS, pk("tickets"), COMMENTS, pk("ticket_comments"))
    assert propose_index(s, JOIN_AGGREGATE, "public", "tickets") is None
    # any index leading with the join column does as well; without one the join column alone is proposed
    assert propose_index(s, JOIN_AGGREGATE, "public", "ticket_comments") == IndexProposal(
        "public", "ticket_comments", ("ticket_id",), equality=("ticket_id",))
    indexed = snap(TICKETS, pk("tickets"), COMMENTS, pk("ticket_comments"), index("ticket_comments", ["ticket_id"]))
    assert propose_index(indexed, JOIN_AGGREGATE, "public", "ticket_comments") is None


def test_non_selective_range_in_a_join_is_not_proposed() -> None:
    orgs = table("organizations", ["id", "name text"], rows=500)
    s = snap(TICKETS, pk("tickets"), orgs, pk("organizations"))
    join = "SELECT * FROM organizations o JOIN tickets t ON t.organization_id = o.id WHERE t.{} >= $1"
    few = propose_index(s, join.format("priority"), "public", "tickets")  # 4 values: any range keeps 25 %
    assert few is not None and few.columns == ("organization_id",) and few.range == ()
    many = propose_index(s, join.format("created_at"), "public", "tickets")  # look-alike: selective range
    assert many is not None and many.columns == ("organization_id", "created_at")
    # outside a join the range stays (the scan's own selectivity decides, see WL02)
    alone = propose_index(s, "SELECT * FROM tickets WHERE priority >= $1", "public", "tickets")
    assert alone is not None and alone.columns == ("priority",)
    # the data sample's distinct count stands in for pg_stats
    sampled = dataclasses.replace(TICKETS, columns=tuple(dataclasses.replace(c, n_distinct=None)
                                                         for c in TICKETS.columns))
    sample = Sampling(tables=(TableSample(schema="public", table="tickets", rows=10_000,
                                          columns=(ColumnSample("priority", distinct=4),)),))
    s2 = snap(sampled, pk("tickets"), orgs, pk("organizations"), sampling=sample)
    p2 = propose_index(s2, join.format("priority"), "public", "tickets")
    assert p2 is not None and p2.columns == ("organization_id",)


# ---- coverage, single-row lookups -----------------------------------------------------------------------------


def test_index_coverage_is_calls_weighted() -> None:
    s = snap(
        ORDERS, table("countries", ["code text"], rows=3),
        statements=(Statement(queryid="1", query="q1", calls=90), Statement(queryid="2", query="q2", calls=10),
                    Statement(queryid="3", query="q3", calls=100)),
        plans=(PlanSummary(queryid="1", explained=True,
                           scans=(PlanScan("public", "orders", "Index Scan", index="orders_pkey"),
                                  PlanScan("public", "countries", "Seq Scan"))),
               PlanSummary(queryid="2", explained=True, scans=(PlanScan("public", "orders", "Seq Scan"),)),
               PlanSummary(queryid="3", reason="utility statement")),
        workload=WorkloadInfo(),
    )
    pct, reason = index_coverage(s, 10_000)
    assert pct == 90.0
    assert "2 explained statements" in reason
    assert index_coverage(s, 1_000_000)[0] == 100.0  # nothing is large


def test_index_coverage_unmeasured() -> None:
    assert index_coverage(snap(), 10_000)[0] is None
    assert index_coverage(snap(workload=WorkloadInfo()), 10_000)[0] is None


def test_single_row_lookup() -> None:
    users = table("users", ["id", "email text", "country text"], rows=5000)
    s = snap(users, pk("users"), unique("users", ["email"]))
    by_pk = Statement(queryid="1", query="SELECT * FROM users WHERE id = $1", calls=100, rows=100)
    by_email = Statement(queryid="2", query="SELECT id FROM users u WHERE u.email = $1", calls=100, rows=90)
    by_country = Statement(queryid="3", query="SELECT * FROM users WHERE country = $1", calls=100, rows=9000)
    first = Statement(queryid="4", query="SELECT * FROM users WHERE country = $1 LIMIT $2", calls=100, rows=100)
    assert single_row_lookup(s, by_pk) is not None and "primary key" in str(single_row_lookup(s, by_pk))
    assert single_row_lookup(s, by_email) is not None
    assert single_row_lookup(s, by_country) is None
    assert single_row_lookup(s, first) is not None
    # a unique index left INVALID by a failed concurrent build enforces nothing: no single-row lookup (rt17)
    by_code = Statement(queryid="5", query="SELECT id FROM users WHERE country = $1", calls=100, rows=90)
    with_index = snap(users, pk("users"), index("users", ["country"], unique=True, valid=False))
    assert single_row_lookup(with_index, by_code) is None
    valid = snap(users, pk("users"), index("users", ["country"], unique=True))
    assert single_row_lookup(valid, by_code) is not None
