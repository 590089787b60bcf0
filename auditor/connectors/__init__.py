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


def collect(dsn: Dsn, options: CollectOptions | None = None) -> Snapshot:
    """Open a read-only session on the DSN's server and return its snapshot."""
    options = options or CollectOptions()
    if dsn.engine == "postgresql":
        from auditor.connectors.postgres import collect as collect_pg

        return collect_pg(dsn, options)
    if dsn.engine == "mysql":
        raise AuditError("MySQL/MariaDB support is not available yet in this version of dbaudit")
    raise AuditError(f"unsupported engine {dsn.engine!r}")
