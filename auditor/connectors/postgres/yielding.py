"""Yield to the application: cancel dbaudit's own statement when another session waits for a lock it holds.

A sample reads its table under AccessShareLock for as long as the SELECT runs (up to the per-table limit,
seconds on a large table). An application's ``ALTER TABLE``, ``TRUNCATE`` or ``VACUUM FULL`` asks for ACCESS
EXCLUSIVE on that table and would queue behind the sample, and every later query on the table behind the
DDL: the lock queue that turns a harmless read into an outage. While a sample runs, :class:`LockYield` polls
from a second connection, every ``interval_s``, for a lock request that dbaudit's backend blocks
(``pg_locks`` and ``pg_blocking_pids``, both readable by any role) and then cancels dbaudit's statement: the
table is reported as not sampled, naming the waiting session, and the DDL waits about one interval.

The second connection is opened on first use, read-only and bounded like the first, and idles between
samples. When it cannot be opened (no free connection slot, say) sampling goes on without yielding, and the
snapshot says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg

from auditor.workload import marked

# Sessions waiting for a lock that dbaudit's backend holds. The fence (OFFSET 0) keeps pg_blocking_pids to
# the few ungranted requests instead of every lock of the server.
WAITERS_SQL = marked(
    "SELECT w.pid FROM (SELECT DISTINCT pid FROM pg_catalog.pg_locks WHERE NOT granted AND pid IS NOT NULL"
    " OFFSET 0) AS w WHERE %(pid)s = ANY (pg_catalog.pg_blocking_pids(w.pid)) LIMIT 1")

# How often the waiters are polled while a sample runs: an application's DDL waits about this long.
POLL_INTERVAL_S = 0.1
# The watcher's own statements: a poll that cannot answer quickly is not worth waiting for.
WATCHER_STATEMENT_TIMEOUT_MS = 1_000


@dataclass
class Yielded:
    """What happened while one statement was watched: the waiting session it yielded to, if any."""

    waiter: int | None = None
    after_s: float = 0.0

    def reason(self) -> str:
        return (f"yielded to session {self.waiter}, which asked for a lock on the table after "
                f"{self.after_s:.1f} s of sampling: not sampled, so that its statement does not queue behind it")


class LockYield:
    """Watches one statement at a time (see the module's docstring)."""

    def __init__(self, open_watcher: Callable[[], psycopg.Connection[Any]],
                 interval_s: float = POLL_INTERVAL_S) -> None:
        self._open = open_watcher
        self.interval_s = interval_s
        self._conn: psycopg.Connection[Any] | None = None
        self.unavailable: str | None = None  # why dbaudit could not yield, as a note

    def _watcher(self) -> psycopg.Connection[Any] | None:
        if self._conn is None and self.unavailable is None:
            try:
                conn = self._open()
                conn.execute(marked(f"SET statement_timeout = {WATCHER_STATEMENT_TIMEOUT_MS}"))
                self._conn = conn
            except Exception as exc:  # noqa: BLE001 - any failure only turns yielding off
                self.unavailable = _first_line(exc)
        return self._conn

    @contextmanager
    def watching(self, conn: psycopg.Connection[Any]) -> Iterator[Yielded]:
        """Bracket one statement on ``conn``: cancel it when a session starts waiting for one of its locks."""
        state = Yielded()
        watcher = self._watcher()
        if watcher is None:
            yield state
            return
        stop = threading.Event()
        pid = conn.info.backend_pid
        started = time.monotonic()

        def poll() -> None:
            while not stop.wait(self.interval_s):
                try:
                    row = watcher.execute(WAITERS_SQL, {"pid": pid}).fetchone()
                except psycopg.Error as exc:
                    self.unavailable = _first_line(exc)
                    return
                if row is not None:
                    state.waiter, state.after_s = int(row[0]), time.monotonic() - started
                    with suppress(psycopg.Error):
                        conn.cancel_safe(timeout=2.0)
                    return

        thread = threading.Thread(target=poll, name="dbaudit-lock-yield", daemon=True)
        thread.start()
        try:
            yield state
        finally:
            stop.set()
            thread.join(timeout=5.0)

    def close(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
