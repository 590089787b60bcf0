"""Connectors: one read-only session per run, a fixed number of bulk catalog queries, a Snapshot out."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.dsn import Dsn
from auditor.errors import AuditError
from auditor.model import Snapshot


@dataclass(frozen=True)
class CollectOptions:
    include_schemas: tuple[str, ...] = ()  # glob patterns; empty: every non-system schema
    exclude_schemas: tuple[str, ...] = ()  # glob patterns
    connect_timeout_s: int = 10
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 1_000
    idle_in_transaction_timeout_ms: int = 60_000  # ends a stalled session server-side
    # data sampling for the normalization checks (auditor.sampling); --no-sample sets sample=False
    sample: bool = True
    show_samples: bool = False  # keep a few raw example values in the snapshot (--show-samples)
    sample_rows: int = 10_000  # rows per table
    sample_table_timeout_s: float = 5.0
    sample_budget_s: float = 60.0  # the whole sampling probe
    sample_max_tables: int = 200
    # the workload probe (pg_stat_statements, generic-plan EXPLAIN, hypopg); --no-workload sets it off
    workload: bool = True


def collect(dsn: Dsn, options: CollectOptions | None = None) -> Snapshot:
    """Open a read-only session on the DSN's server and return its snapshot."""
    options = options or CollectOptions()
    if dsn.engine == "postgresql":
        from auditor.connectors.postgres import collect as collect_pg

        return collect_pg(dsn, options)
    if dsn.engine == "mysql":
        from auditor.connectors.mysql import collect as collect_mysql

        return collect_mysql(dsn, options)
    raise AuditError(f"unsupported engine {dsn.engine!r}")
