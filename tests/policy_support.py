"""A small saved snapshot for the configuration, suppression, baseline, SARIF and JUnit tests.

Findings it draws with the default options (statistics 10 days old): KY01 no-primary-key on public.audit_2025
and public.audit_2026 (warnings), IX01 unused-index on public.orders_note_idx, public.audit_2025_at_idx and
public.audit_2026_at_idx (warnings). With ``min_stats_age_days`` above 10 the IX01 findings become info.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from auditor.config import IgnoreRule, SuppressedFinding
from auditor.maintenance import Maintenance
from auditor.model import (
    Column,
    Constraint,
    Finding,
    Index,
    IndexKey,
    ObjectRef,
    Severity,
    Skipped,
    Snapshot,
    Table,
    TableStats,
    snapshot_to_json,
)
from auditor.operations import Activity, Backend
from auditor.posture import CheckpointStats, DatabaseStats, HbaRule, Posture, SchemaPrivileges
from auditor.replication import Replication
from auditor.report import Report, Target
from auditor.scoring import Metric, Score

COLLECTED = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
STATS_RESET = datetime(2026, 11, 14, 21, 0, tzinfo=UTC)  # 10 days before


def _table(name: str) -> Table:
    return Table(
        "public",
        name,
        estimated_rows=1000,
        columns=(
            Column("id", "integer", nullable=False, position=1),
            Column("at", "timestamp with time zone", position=2),
            Column("note", "text", position=3),
        ),
        stats=TableStats(seq_scan=400, idx_scan=100, n_live_tup=1000, n_dead_tup=0, n_mod_since_analyze=0,
                         last_autoanalyze=STATS_RESET),
    )


def _plain_index(table: str, name: str, column: str, scans: int = 0) -> Index:
    return Index("public", table, name, keys=(IndexKey(column),), scans=scans, size_bytes=8192)


def policy_snapshot(*, extra_unused: bool = False) -> Snapshot:
    """The snapshot above; ``extra_unused`` adds one more unused index (public.orders_at_idx), a new finding."""
    indexes = [
        Index(
            "public",
            "orders",
            "orders_pkey",
            keys=(IndexKey("id"),),
            is_unique=True,
            is_primary=True,
            constraint="orders_pkey",
            constraint_type="primary_key",
            scans=50,
        ),
        _plain_index("orders", "orders_note_idx", "note"),
        _plain_index("audit_2025", "audit_2025_at_idx", "at"),
        _plain_index("audit_2026", "audit_2026_at_idx", "at"),
    ]
    # IX01's evidence on young statistics: 500 scans of another plain index per table
    indexes += [
        Index("public", t, f"{t}_lower_note_idx", keys=(IndexKey(expression="lower(note)"),), scans=500,
              size_bytes=8192)
        for t in ("orders", "audit_2025", "audit_2026")
    ]
    if extra_unused:
        indexes.append(_plain_index("orders", "orders_at_idx", "at"))
    return Snapshot(
        engine="postgresql",
        server_version="16.4",
        server_version_num=160004,
        database="shop",
        dsn="postgresql://app@db.internal:5432/shop",
        collected_at=COLLECTED,
        stats_reset=STATS_RESET,
        schemas=("public",),
        tables=(_table("orders"), _table("audit_2025"), _table("audit_2026")),
        constraints=(
            Constraint("public", "orders", "orders_pkey", "primary_key", columns=("id",), index="orders_pkey"),
        ),
        indexes=tuple(indexes),
        posture=_healthy_posture(),
        maintenance=Maintenance(freeze=(), databases=(), table_bloat=(), index_bloat=()),
        # dbaudit's own session only: nothing for the session-based checks to find
        activity=Activity(backends=(Backend(pid=4242, user="app", database="shop", backend_type="client backend",
                                            client="remote", client_addr="10.0.0.9", ssl=True, is_self=True),)),
        # a primary with nothing prepared, no slot and no standby: the transaction and replication checks run
        replication=Replication(server_time=COLLECTED, prepared_xacts=(), slots=(), standbys=(), replicas=()),
    )


def _healthy_posture() -> Posture:
    """A well-kept server: durable, SCRAM everywhere, tuned planner costs; the settings and security checks run
    and find nothing."""
    from tests.builders import pg_settings

    return Posture(
        login="app",
        settings=pg_settings(random_page_cost="1.1", shared_buffers="262144"),
        role_settings=(),
        roles=(),
        passwords_known=True,
        hba_rules=(HbaRule(1, "hostssl", ("all",), ("all",), "10.0.0.0", "255.0.0.0", "scram-sha-256"),),
        schema_privileges=(SchemaPrivileges("public", "pg_database_owner", public_usage=True),),
        definer_functions=(),
        database_stats=DatabaseStats(blks_read=10, blks_hit=10_000, size_bytes=50 * 1024**2),
        checkpoints=CheckpointStats("pg_stat_bgwriter", timed=200, requested=3, stats_reset=STATS_RESET),
        io=(),
    )


def save_snapshot(directory: Path, name: str = "snap.json", *, extra_unused: bool = False) -> str:
    path = directory / name
    path.write_text(snapshot_to_json(policy_snapshot(extra_unused=extra_unused)), encoding="utf-8")
    return str(path)


def policy_report() -> Report:
    """A fixed report for the SARIF and JUnit golden files: each severity, odd identifiers, a statement, a
    suppressed finding, a stale ignore, skipped checks. Metrics and score are fixed here so that changes to the
    scoring do not move these files."""
    docs = "https://github.com/dbaudit/dbaudit/blob/main/docs/checks.md"

    def finding(code: str, check: str, severity: Severity, category: str, obj: ObjectRef, message: str,
                remediation: str | None = None) -> Finding:
        return Finding(code, check, severity, category, obj, message, {"table_rows": 1200}, remediation,
                       f"{docs}#{code.lower()}-{check}")

    findings = (
        finding("IX04", "invalid-index", Severity.ERROR, "indexes",
                ObjectRef(type="index", schema="public", table="orders", index="orders_created_idx"),
                "public.orders_created_idx is INVALID: a CREATE INDEX CONCURRENTLY failed and left it behind",
                "DROP INDEX CONCURRENTLY public.orders_created_idx;"),
        finding("IX05", "missing-fk-index", Severity.WARNING, "indexes",
                ObjectRef(type="foreign_key", schema="public", table="orders", columns=("customer_id",),
                          constraint="orders_customer_id_fkey"),
                "public.orders(customer_id) references public.customers but no index leads with it",
                "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"),
        finding("KY01", "no-primary-key", Severity.WARNING, "keys",
                ObjectRef(type="table", schema="Sales Data", table='odd "name" <&>'),
                '"Sales Data"."odd ""name"" <&>" has no primary key \x01'),
        finding("WL03", "n-plus-one", Severity.INFO, "workload",
                ObjectRef(type="query", query="SELECT * FROM public.customers WHERE id = $1", queryid="-812"),
                "SELECT * FROM public.customers WHERE id = $1 ran 48000 times, 40 x its neighbours"),
    )
    quiet = finding("IX01", "unused-index", Severity.WARNING, "indexes",
                    ObjectRef(type="index", schema="public", table="audit_2025", index="audit_2025_at_idx"),
                    "public.audit_2025_at_idx had no scans in 30 days",
                    "DROP INDEX CONCURRENTLY public.audit_2025_at_idx;")
    return Report(
        target=Target(engine="postgresql", server_version="16.4", database="shop",
                      dsn="postgresql://app@db.internal:5432/shop"),
        started_at=datetime(2026, 11, 24, 21, 0, tzinfo=UTC),
        duration_s=1.8,
        findings=findings,
        skipped=(
            Skipped(check="slow-query", code="WL01", reason="pg_stat_statements is not installed",
                    enable="shared_preload_libraries = 'pg_stat_statements'; CREATE EXTENSION pg_stat_statements"),
            Skipped(check="multi-valued-column", code="NF02", reason="no data sample was collected"),
        ),
        metrics=(Metric(key="unused_indexes", label="Unused indexes", value=0, unit="indexes", target="0",
                        passed=True),),
        score=Score(value=71, grade="C"),
        checks_run=("IX01", "IX04", "IX05", "KY01", "WL03"),
        tool_version="0.1.0",
        suppressed=(SuppressedFinding(quiet, IgnoreRule("unused-index", "public.audit_*", "archive tables",
                                                        "dbaudit.toml ignore #1")),),
        stale_ignores=(IgnoreRule("KY*", "public.nothing_*", "dropped last year", "dbaudit.toml ignore #2"),),
    )
