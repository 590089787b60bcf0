"""A fixed snapshot and report for the design-document reporters (markdown, HTML): every section has content,
and some names carry the characters that break Markdown, Mermaid and HTML (quotes, <, &, |, %, backticks)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from auditor.engine import DOCS_BASE
from auditor.model import (
    Column,
    Finding,
    IndexProposal,
    Note,
    ObjectRef,
    PlanScan,
    PlanSummary,
    Sampling,
    Severity,
    Skipped,
    Snapshot,
    Statement,
    TableSample,
    TableStats,
    WorkloadInfo,
)
from auditor.report import Report, Target
from auditor.scoring import compute_metrics, compute_score
from tests.builders import NOW, fk, index, pk, snap, table, unique

ODD_SCHEMA = "Sales Data"
ODD_TABLE = 'odd "name" <b>&amp;|%`x`'


def design_snapshot() -> Snapshot:
    customers = replace(
        table("customers", ["id bigint", "name text", "email text", "country char(2)"], rows=120_000,
              not_null=["id", "name", "email"]),
        total_bytes=24_000_000, table_bytes=16_000_000, index_bytes=8_000_000, comment="People who buy",
        stats=TableStats(seq_scan=4, idx_scan=9_000, n_tup_ins=1_200, n_tup_upd=300, n_tup_del=0),
    )
    orders = replace(
        table("orders", ["id bigint", "customer_id bigint", "status text", "created_at timestamptz"],
              rows=150_000_000, not_null=["id", "customer_id", "created_at"]),
        total_bytes=40_000_000_000,
        stats=TableStats(seq_scan=250, idx_scan=1_000_000, n_tup_ins=5_000_000, n_tup_upd=10, n_tup_del=2),
    )
    items = replace(
        table("order_items", ["order_id bigint", "product_id bigint", "qty integer"], rows=400_000,
              not_null=["order_id", "product_id", "qty"]),
        total_bytes=50_000_000,
    )
    products = replace(table("products", ["id bigint", "title text"], rows=2_000, not_null=["id"]),
                       total_bytes=400_000)
    odd = replace(
        table(ODD_TABLE, [Column("pk", "integer", position=1), Column("weird col", "numeric(10,2)", position=2),
                          Column('a"b%c', "character varying(20)", position=3)], schema=ODD_SCHEMA, rows=None),
        total_bytes=8192,
    )
    workload = WorkloadInfo(statements_total=3, statements_explained=2, stats_reset=NOW)
    statements = (
        Statement(queryid="101", query="SELECT * FROM orders WHERE status = $1 ORDER BY created_at LIMIT $2",
                  calls=5_000, total_ms=90_000.0, mean_ms=18.0, stddev_ms=40.0, min_ms=2.0, max_ms=900.0,
                  rows=100_000),
        Statement(queryid="102", query="SELECT id, name FROM customers WHERE id = $1", calls=100_000,
                  total_ms=5_000.0, mean_ms=0.05, stddev_ms=0.02, min_ms=0.02, max_ms=3.0, rows=100_000),
        Statement(queryid="103", query="BEGIN", calls=100, total_ms=1.0, mean_ms=0.01, min_ms=0.0, max_ms=0.1),
    )
    plans = (
        PlanSummary(queryid="101", explained=True, method="generic_plan", total_cost=1e6,
                    scans=(PlanScan("public", "orders", "Seq Scan", plan_rows=1e6),),
                    proposals=(IndexProposal("public", "orders", ("status", "created_at"), equality=("status",),
                                             sort=("created_at",), verified=True, used=True, cost_before=1e6,
                                             cost_after=12.0),)),
        PlanSummary(queryid="102", explained=True, method="generic_plan", total_cost=8.0,
                    scans=(PlanScan("public", "customers", "Index Scan", index="customers_pkey", plan_rows=1),)),
    )
    sampling = Sampling(rows_per_table=10_000, tables=(
        TableSample("public", "orders", rows=10_000, method="system"),
        TableSample("public", "customers", rows=10_000, method="bernoulli"),
        TableSample("public", "order_items", rows=2_000, method="full"),
    ))
    return snap(
        customers, orders, items, products, odd,
        pk("customers", scans=9_000), pk("orders", scans=1_000_000), pk("order_items", ["order_id", "product_id"]),
        pk("products"), unique("customers", ["email"]),
        fk("orders", ["customer_id"], "customers"), fk("order_items", ["order_id"], "orders"),
        index("orders", ["status"], name="orders_status_idx", scans=0, size_bytes=2_000_000_000),
        index("customers", ["(lower(email))"], name="customers_lower_email_idx", valid=False, scans=0),
        index(ODD_TABLE, ["pk"], name='idx <"odd">', schema=ODD_SCHEMA, scans=3),
        statements=statements, plans=plans, workload=workload, sampling=sampling,
        server_version="15.18", dsn="postgresql://app@db.internal:5432/shop",
        notes=(Note("privileges", "1 table is not readable by this role", ("hr.salaries",),
                    "GRANT pg_read_all_stats TO app"),),
    )


def _finding(code: str, check: str, severity: Severity, category: str, obj: ObjectRef, message: str,
             remediation: str | None = None, **details: Any) -> Finding:
    return Finding(code=code, check=check, severity=severity, category=category, object=obj, message=message,
                   details=details, remediation=remediation, doc_url=f"{DOCS_BASE}#{code.lower()}-{check}")


def design_findings() -> tuple[Finding, ...]:
    return (
        _finding("IX04", "invalid-index", Severity.ERROR, "indexes",
                 ObjectRef("index", "public", "customers", index="customers_lower_email_idx"),
                 "public.customers_lower_email_idx on customers is invalid",
                 "REINDEX INDEX CONCURRENTLY public.customers_lower_email_idx;"),
        _finding("IX01", "unused-index", Severity.WARNING, "indexes",
                 ObjectRef("index", "public", "orders", index="orders_status_idx"),
                 "public.orders_status_idx on orders had no scans in 30 days",
                 "DROP INDEX CONCURRENTLY public.orders_status_idx;", index_bytes=2_000_000_000),
        _finding("IX05", "missing-fk-index", Severity.WARNING, "indexes",
                 ObjectRef("foreign_key", "public", "order_items", ("order_id",),
                           constraint="order_items_order_id_fkey"),
                 "public.order_items(order_id) references public.orders but no index leads with it",
                 "CREATE INDEX CONCURRENTLY order_items_order_id_idx ON public.order_items (order_id);"),
        _finding("KY01", "no-primary-key", Severity.WARNING, "keys",
                 ObjectRef("table", ODD_SCHEMA, ODD_TABLE),
                 f'"{ODD_SCHEMA}"."odd ""name"" <b>&amp;|%`x`" has no primary key'),
        _finding("NF04", "transitive-dependency", Severity.WARNING, "normalization",
                 ObjectRef("table", "public", "customers", ("country", "name")),
                 "in public.customers, country determines name in the sample (3NF)"),
        _finding("WL02", "missing-index-for-query", Severity.WARNING, "workload",
                 ObjectRef("query", "public", "orders", ("status", "created_at"), query=design_snapshot_query(),
                           queryid="101"),
                 "reads public.orders (150,000,000 rows) sequentially; an index on (status, created_at) cuts "
                 "the plan cost from 1000000 to 12",
                 "CREATE INDEX CONCURRENTLY orders_status_created_at_idx ON public.orders (status, created_at);",
                 calls=5_000, total_ms=90_000.0, verified=True, cost_before=1_000_000.0, cost_after=12.0),
    )


def design_snapshot_query() -> str:
    return "SELECT * FROM orders WHERE status = $1 ORDER BY created_at LIMIT $2"


def design_report() -> Report:
    snapshot = design_snapshot()
    findings = design_findings()
    metrics = compute_metrics(snapshot, findings)
    return Report(
        target=Target(engine="postgresql", server_version="15.18", database="shop",
                      dsn="postgresql://app@db.internal:5432/shop"),
        started_at=datetime(2026, 11, 24, 21, 0, tzinfo=UTC),
        duration_s=1.8,
        findings=findings,
        skipped=(Skipped("n-plus-one", "WL03", "pg_stat_statements holds too few calls",
                         "run the application's workload, then scan again"),),
        metrics=metrics,
        score=compute_score(metrics, findings),
        notes=snapshot.notes,
        checks_run=("IX01", "IX04", "IX05", "KY01", "NF04", "WL02"),
        snapshot=snapshot,
        tool_version="0.1.0",
    )
