"""Yield to the application: cancel dbaudit's own statement when another session waits for a lock it holds.

A sample reads its table under a lock for as long as its SELECT runs (up to the per-table limit, seconds on
a large table): AccessShareLock on PostgreSQL, a shared metadata lock on MySQL/MariaDB. An application's
``ALTER TABLE``, ``TRUNCATE`` or ``VACUUM FULL`` asks for an exclusive lock on that table and would queue
behind the sample, and every later query on the table behind the DDL: the lock queue that turns a harmless
read into an outage. While a sample runs, a :class:`LockYield` polls from a second connection, every
``interval_s``, for a session waiting for a lock that dbaudit's statement holds, and then cancels dbaudit's
statement: the table is reported as not sampled, naming the waiting session, and the DDL waits about one
interval.

The second connection is opened on first use, read-only and bounded like the first, and idles between
samples. When it cannot be opened or cannot see other sessions, sampling goes on without yielding and the
snapshot says why (:attr:`LockYield.unavailable`). Each engine supplies the poll (:meth:`LockYield.waiter`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Generic, TypeVar

# How often the waiters are polled while a sample runs: an application's DDL waits about this long.
POLL_INTERVAL_S = 0.1

C = TypeVar("C")


@dataclass
class Yielded:
    """What happened while one statement was watched: the waiting session it yielded to, if any."""

    waiter: int | None = None
    after_s: float = 0.0

    def reason(self) -> str:
        return (f"yielded to session {self.waiter}, which asked for a lock on the table after "
                f"{self.after_s:.1f} s of sampling: not sampled, so that its statement does not queue behind it")


class LockYield(Generic[C]):
    """Watches one statement at a time (see the module's docstring); ``C`` is the driver's connection."""

    def __init__(self, open_watcher: Callable[[], C], interval_s: float = POLL_INTERVAL_S) -> None:
        self._open = open_watcher
        self.interval_s = interval_s
        self._conn: C | None = None
        self.unavailable: str | None = None  # why dbaudit could not yield, for a note

    # ---- what each engine supplies ---------------------------------------------------------------------------

    def prepare(self, watcher: C) -> str | None:
        """Set the watcher session up; the reason yielding cannot work through it, or None."""
        return None

    def waiter(self, watcher: C, own_id: int, schema: str, table: str) -> int | None:
        """The id of a session waiting for a lock that session ``own_id`` holds on the table, or None."""
        raise NotImplementedError

    def close_watcher(self, watcher: C) -> None:
        raise NotImplementedError

    # ---- the shared mechanism ----------------------------------------------------------------------------------

    def _watcher(self) -> C | None:
        """The watcher connection, opened on first use; None once yielding is off (:attr:`unavailable` says
        why: the first failure is kept, and a watcher that failed is not polled again)."""
        if self.unavailable is not None:
            return None
        if self._conn is None:
            try:
                conn = self._open()
            except Exception as exc:  # noqa: BLE001 - any failure only turns yielding off
                self.unavailable = first_line(exc)
                return None
            try:
                why = self.prepare(conn)
            except Exception as exc:  # noqa: BLE001 - a watcher that cannot be set up only turns yielding off
                why = first_line(exc)
            if why is not None:
                self.unavailable = why
                with suppress(Exception):
                    self.close_watcher(conn)
                return None
            self._conn = conn
        return self._conn

    @contextmanager
    def watching(self, own_id: int, schema: str, table: str, cancel: Callable[[C], object]) -> Iterator[Yielded]:
        """Bracket one statement of session ``own_id`` on the table: ``cancel`` it (given the watcher
        connection) when a session starts waiting for one of its locks."""
        state = Yielded()
        watcher = self._watcher()
        if watcher is None:
            yield state
            return
        stop = threading.Event()
        started = time.monotonic()

        def poll() -> None:
            while not stop.wait(self.interval_s):
                try:
                    found = self.waiter(watcher, own_id, schema, table)
                except Exception as exc:  # noqa: BLE001 - the poll failing only ends yielding
                    self.unavailable = first_line(exc)
                    return
                if found is not None:
                    state.waiter, state.after_s = found, time.monotonic() - started
                    with suppress(Exception):
                        cancel(watcher)
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
            with suppress(Exception):
                self.close_watcher(self._conn)
            self._conn = None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unavailable_note_text(why: str) -> str:
    """What the sample did without its watcher: it says what dbaudit would do, not that a DDL waited (nothing
    was watched, so nothing tells whether one came)."""
    return (f"could not watch for sessions waiting on the sample's locks from a second connection ({why}): "
            "dbaudit yields its lock to such a session only when it watches, so an application's DDL on a table "
            "while it was sampled would wait for that table's sample to end (at most the per-table limit)")


class NoFreeSlot(Exception):
    """A second connection would take connection slots the applications may need."""

    @classmethod
    def of(cls, free: int, most: int) -> NoFreeSlot:
        return cls(f"{free} connection slot{'s' if free != 1 else ''} free of max_connections {most}: dbaudit "
                   f"leaves at least {slots_kept(most)} to the applications")


def slots_kept(max_connections: int) -> int:
    """The connection slots dbaudit leaves free for the applications (:func:`room_for_one_more`)."""
    return max(5, max_connections // 10)


def room_for_one_more(free_slots: int, max_connections: int) -> bool:
    """Whether a second connection of dbaudit's (the catalog's second session, the sample's lock watcher) may
    take a slot: at least 5 free after it, and at least a tenth of max_connections (a pool of 500 keeps 50
    free). A judgment, not a published figure: the connection lives for seconds, and the slots it must leave are
    those an application's pool or a DBA would reach for in that time (rt18: at max_connections 20 the watcher
    took the last ordinary slot and an application was refused for the sample's three seconds)."""
    return free_slots - 1 >= slots_kept(max_connections)
