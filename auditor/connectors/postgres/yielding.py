"""PostgreSQL's poll for :class:`~auditor.connectors.yielding.LockYield`: ``pg_locks`` and
``pg_blocking_pids``, both readable by any role (pg_stat_activity hides other roles' wait events)."""

from __future__ import annotations

from typing import Any

import psycopg

from auditor.connectors.yielding import LockYield
from auditor.workload import marked

# Sessions waiting for a lock that dbaudit's backend holds. The fence (OFFSET 0) keeps pg_blocking_pids to
# the few ungranted requests instead of every lock of the server.
WAITERS_SQL = marked(
    "SELECT w.pid FROM (SELECT DISTINCT pid FROM pg_catalog.pg_locks WHERE NOT granted AND pid IS NOT NULL"
    " OFFSET 0) AS w WHERE %(pid)s = ANY (pg_catalog.pg_blocking_pids(w.pid)) LIMIT 1")
# The watcher's own statements: a poll that cannot answer quickly is not worth waiting for.
WATCHER_STATEMENT_TIMEOUT_MS = 1_000


class PgLockYield(LockYield[psycopg.Connection[Any]]):
    def prepare(self, watcher: psycopg.Connection[Any]) -> str | None:
        watcher.execute(marked(f"SET statement_timeout = {WATCHER_STATEMENT_TIMEOUT_MS}"))
        return None

    def waiter(self, watcher: psycopg.Connection[Any], own_id: int, schema: str, table: str) -> int | None:
        row = watcher.execute(WAITERS_SQL, {"pid": own_id}).fetchone()
        return None if row is None else int(row[0])

    def close_watcher(self, watcher: psycopg.Connection[Any]) -> None:
        watcher.close()
