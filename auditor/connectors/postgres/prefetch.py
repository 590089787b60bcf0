"""The catalog's queries sent from a helper thread, so that the server reads an area while the client builds the last.

The connector reads the catalog in one REPEATABLE READ transaction, one query per area. The server's time and the
client's (fetching rows, building the snapshot's objects) used to add up; here one helper thread, the only one
that touches the connection while the transaction is open, sends the areas one after another, in the order the
collection will ask for them (its *plan*), and hands each area's outcome over; the collecting thread takes them in
that order and builds meanwhile (psycopg waits for the server without the GIL).

Nothing changes on the wire: the same queries, one at a time, in the same transaction, each under its savepoint;
the same lock retries (a table locked after locks.sql was read: locks.sql again, then the area without it), the
same refusals (the savepoint rolled back, a note). An area the plan did not foresee is sent when it is asked for,
so a plan that errs costs time, never a wrong snapshot. Everything an area's read decides (its rows, its notes,
the areas left unread, the locks it learned of) travels in its :class:`AreaRead` and is applied by the collecting
thread when it takes it, in the collection's own order.

Stopping: a lost connection, the watchdog's cut (``--timeout``) or any other failure of the helper is raised in
the collecting thread when it takes that area; when the collecting thread stops first (an error, Ctrl-C), the
helper is told to start nothing more, its statement is cancelled on the server, and it is waited for (bounded)
before the connection is closed, so the transaction's locks end with the connection as before.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psycopg

from auditor.connectors.guard import DeadlineReached, shut_down, statement_bound_s
from auditor.connectors.postgres.session import RECOVERABLE, Session
from auditor.connectors.yielding import first_line
from auditor.model import Note

# how often an area query is retried when a table was locked after locks.sql was read
LOCK_RETRIES = 2

Rows = list[Any]  # dicts, or TupleRows for the areas in Session.tuple_areas
Locked = dict[int, dict[str, Any]]  # oid -> locks.sql row, for every relation left out


@dataclass
class AreaRead:
    """What reading one area decided: its rows (None: not read), and what the collection must record."""

    rows: Rows | None = None
    notes: list[Note] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    locks: Rows = field(default_factory=list)  # locks.sql rows read again during a retry, in order


@dataclass(frozen=True)
class Read:
    """One planned or asked-for query: ``kind`` "area" (a refusal is noted) or "probe" (any server error is)."""

    area: str
    params: Mapping[str, Any]
    sql_file: str | None = None
    names: Mapping[str, str] | None = None
    kind: str = "area"
    # planned reads only: whether to send it, from the areas read before it (area -> its number of rows, None when
    # it was not read); None: always
    when: Callable[[Mapping[str, int | None]], bool] | None = field(default=None, compare=False)


def refusal_note(area: str, exc: psycopg.Error) -> Note:
    first = first_line(exc)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return Note(area=area,
                    message=f"the {area} query was refused ({first}); that part of the snapshot is empty",
                    enable="GRANT pg_read_all_stats TO <role>, or run dbaudit as the database owner")
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return Note(area=area, message=f"the {area} query waited longer than lock_timeout ({first}); "
                                       "that part of the snapshot is empty",
                    enable="run dbaudit again when no DDL holds the tables")
    if isinstance(exc, psycopg.errors.InternalError_):
        return Note(area=area, message=f"the {area} query met objects dropped while it ran ({first}); that part "
                                       "of the snapshot is empty", enable="run dbaudit again")
    return Note(area=area,
                message=f"the {area} query ran past statement_timeout; that part of the snapshot is empty",
                enable="raise --statement-timeout")


def dropped_meanwhile(exc: psycopg.Error) -> bool:
    """A deparsing function met a relation, attribute or constraint dropped since the snapshot was taken."""
    return str(exc).startswith("cache lookup failed")


def read_area(session: Session, read: Read, locked: Locked, out: AreaRead | None = None) -> AreaRead:
    """Send one area's query; a refusal rolls its savepoint back and is noted. ``locked`` grows with the
    relations a lock retry left out (and ``out.locks`` says which rows were read)."""
    out = out if out is not None else AreaRead()
    params = read.params
    for attempt in range(LOCK_RETRIES + 1):
        try:
            out.rows = session.query(read.sql_file or read.area, {**params, "locked": sorted(locked)}, read.names)
            return out
        except DeadlineReached as exc:
            return _not_read(out, read.area, str(exc))
        except (*RECOVERABLE, psycopg.errors.InternalError_) as exc:
            if isinstance(exc, psycopg.errors.InternalError_) and not dropped_meanwhile(exc):
                raise
            session.rollback_area()
            if isinstance(exc, (psycopg.errors.LockNotAvailable, psycopg.errors.InternalError_)) \
                    and attempt < LOCK_RETRIES \
                    and read.area != "locks" and "schemas" in params:
                # a table was locked (or dropped) after locks.sql was read: read them again, leave it out too
                again = read_area(session, Read("locks", {"schemas": params["schemas"], "dropped": True}), locked,
                                  out)
                for r in again.rows or ():
                    locked.setdefault(int(r["oid"]), r)
                    out.locks.append(r)
                again.rows = None
                continue
            reached = deadline_reached(session)
            if isinstance(exc, psycopg.errors.QueryCanceled) and reached is not None:
                return _not_read(out, read.area, reached)
            out.notes.append(refusal_note(read.area, exc))
            out.unread.append(read.area)
            out.rows = None
            return out
    return out  # pragma: no cover (the loop returns)


def deadline_reached(session: Session) -> str | None:
    """"--timeout N s reached" once the collection's deadline has passed, else None."""
    clock = None if session.watchdog is None else session.watchdog.clock
    return clock.reached() if clock is not None and clock.expired() else None


def _not_read(out: AreaRead, area: str, reached: str) -> AreaRead:
    """An area the collection's deadline left unread (not sent, or cancelled by its server-side timeout)."""
    out.notes.append(Note(area=area, message=f"the {area} query was not run to its end: {reached}; that part of "
                                             "the snapshot is empty", enable="raise --timeout"))
    out.unread.append(area)
    out.rows = None
    return out


def read_probe(session: Session, read: Read, locked: Locked) -> AreaRead:
    """An optional query that reads relations' pages (pgstattuple): any server error costs only its figures (a
    note says why); a lost connection still ends the run."""
    out = AreaRead()
    try:
        out.rows = session.query(read.area, {**read.params, "locked": sorted(locked)}, read.names)
    except DeadlineReached as exc:
        out.notes.append(Note(area=read.area, message=f"the {read.area} query was not run ({exc}); the estimates "
                                                      "are used instead"))
    except psycopg.Error as exc:
        if session.conn.closed or session.conn.broken:
            raise
        session.rollback_area()
        first = first_line(exc)
        out.notes.append(Note(area=read.area, message=f"the {read.area} query stopped ({first}); the estimates "
                                                      "are used instead"))
    return out


_TAKEN = AreaRead()  # what is left of an outcome once taken


class Prefetch:
    """The helper thread and its queue of reads (see the module's docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.locked: Locked = {}  # the helper's own view, ahead of the collector's
        self._cond = threading.Condition()
        self._queue: deque[int] = deque()  # job numbers not yet sent
        self._jobs: list[Read] = []
        self._results: dict[int, AreaRead | None] = {}  # None: a planned read its condition skipped
        self._counts: dict[str, int | None] = {}  # rows of each area read so far, for the plan's conditions
        self._taken: set[int] = set()
        self._failed: BaseException | None = None
        self._stopping = False
        self._busy = False
        self._thread = threading.Thread(target=self._work, name="dbaudit-catalog", daemon=True)
        self._thread.start()

    # ---- the collecting thread ------------------------------------------------------------------------------

    def plan(self, reads: list[Read]) -> None:
        """Queue reads ahead of their turn, in the order the collection will take them."""
        with self._cond:
            for read in reads:
                self._jobs.append(read)
                self._queue.append(len(self._jobs) - 1)
            self._cond.notify_all()

    def take(self, read: Read) -> AreaRead:
        """The outcome of ``read``: the planned one sent ahead when there is one, else sent now."""
        with self._cond:
            job = next((i for i, planned in enumerate(self._jobs)
                        if i not in self._taken and planned == read and self._results.get(i, True) is not None),
                       None)
            if job is None:
                self._jobs.append(read)
                job = len(self._jobs) - 1
                self._queue.append(job)
                self._cond.notify_all()
            self._taken.add(job)
            while job not in self._results:
                if self._failed is not None:
                    raise self._failed
                self._cond.wait(0.5)
            result = self._results[job]
            if result is None:  # its condition said no when the helper came to it: send it now after all
                self._results.pop(job)
                self._queue.append(job)
                self._cond.notify_all()
                while self._results.get(job) is None:
                    if self._failed is not None:
                        raise self._failed
                    self._cond.wait(0.5)
                result = self._results[job]
            assert result is not None
            self._results[job] = _TAKEN  # the rows are the collection's now: not held here until the end
            return result

    def untaken(self) -> list[str]:
        """The areas sent ahead that the collection never asked for (a plan that erred): for tests."""
        with self._cond:
            return [self._jobs[i].area for i, r in self._results.items() if r is not None and i not in self._taken]

    def close(self) -> None:
        """End the helper: at once when idle; when it is still sending (the collection stopped early), cancel its
        statement on the server and wait for it, at most a statement's bound, then cut the socket."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            busy = self._busy
            self._cond.notify_all()
        conn = self.session.conn
        if busy and not (conn.closed or conn.broken):
            # a cancel that fails leaves the bounded wait and the cut below
            with suppress(Exception):
                conn.cancel_safe(timeout=5.0)
        bound = statement_bound_s(self.session.watchdog.statement_timeout_ms) if self.session.watchdog else 10.0
        self._thread.join(timeout=min(bound, 10.0))
        if self._thread.is_alive():
            if not conn.closed:
                shut_down(conn.pgconn.socket)
            self._thread.join(timeout=bound)

    # ---- the helper thread ----------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                read = self._jobs[job]
                self._busy = True
            try:
                if read.when is not None and job not in self._taken and not read.when(self._counts):
                    result: AreaRead | None = None
                else:
                    reader = read_probe if read.kind == "probe" else read_area
                    result = reader(self.session, read, self.locked)
                    if read.area == "locks":  # the first reading of the holders: later reads leave them out
                        for r in result.rows or ():
                            self.locked.setdefault(int(r["oid"]), r)
            except BaseException as exc:  # noqa: BLE001 - handed to the collecting thread, which raises it
                with self._cond:
                    self._failed = exc
                    self._busy = False
                    self._cond.notify_all()
                return
            with self._cond:
                self._busy = False
                self._results[job] = result
                if result is not None:
                    self._counts[read.area] = None if result.rows is None else len(result.rows)
                self._cond.notify_all()
