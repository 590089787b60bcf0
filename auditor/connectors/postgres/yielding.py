"""PostgreSQL's poll for :class:`~auditor.connectors.yielding.LockYield`: ``pg_locks`` and
``pg_blocking_pids``, both readable by any role (pg_stat_activity hides other roles' wait events)."""

from __future__ import annotations

from typing import Any

import psycopg

from auditor.connectors.guard import Clock, Watchdog
from auditor.connectors.postgres.session import GuardedConnection
from auditor.connectors.yielding import LockYield
from auditor.workload import marked

# Sessions waiting for a lock that dbaudit's backend holds. The fence (OFFSET 0) keeps pg_blocking_pids to
# the few ungranted requests instead of every lock of the server.
WAITERS_SQL = marked(
    "SELECT w.pid FROM (SELECT DISTINCT pid FROM pg_catalog.pg_locks WHERE NOT granted AND pid IS NOT NULL"
    " OFFSET 0) AS w WHERE %(pid)s = ANY (pg_catalog.pg_blocking_pids(w.pid)) LIMIT 1")
# The watcher's own statements: a poll that cannot answer quickly is not worth waiting for.
WATCHER_STATEMENT_TIMEOUT_MS = 1_000


class WatcherStalled(Exception):
    """The watcher's server process sent no answer within its bound (stopped, or the server froze)."""


class PgLockYield(LockYield[psycopg.Connection[Any]]):
    def prepare(self, watcher: psycopg.Connection[Any]) -> str | None:
        # The watcher's waits are bounded from the client like the main session's (the server's
        # statement_timeout never fires in a backend that stopped running): unbounded, a watcher whose backend
        # stopped answering held the poll for ever, and every later poll behind the connection's lock, so that
        # the sampling went on without yielding and without saying so; its set-up here would even hold the scan.
        if isinstance(watcher, GuardedConnection) and watcher.watchdog is None:
            watcher.watchdog = Watchdog(WATCHER_STATEMENT_TIMEOUT_MS, Clock())
        _execute(watcher, marked(f"SET statement_timeout = {WATCHER_STATEMENT_TIMEOUT_MS}"))
        return None

    def waiter(self, watcher: psycopg.Connection[Any], own_id: int, schema: str, table: str) -> int | None:
        row = _execute(watcher, WAITERS_SQL, {"pid": own_id}).fetchone()
        return None if row is None else int(row[0])

    def close_watcher(self, watcher: psycopg.Connection[Any]) -> None:
        dog = watcher.watchdog if isinstance(watcher, GuardedConnection) else None
        watcher.close()
        if dog is not None:
            dog.close()


def _execute(watcher: psycopg.Connection[Any], sql: str, params: dict[str, Any] | None = None
             ) -> psycopg.Cursor[Any]:
    """``watcher.execute``, with the watchdog's cut said as such (the driver only sees a closed socket)."""
    try:
        return watcher.execute(sql, params)
    except psycopg.OperationalError:
        dog = watcher.watchdog if isinstance(watcher, GuardedConnection) else None
        if dog is not None and dog.fired is not None:
            raise WatcherStalled(f"its server process sent no answer for {dog.bound_s:g} s") from None
        raise
