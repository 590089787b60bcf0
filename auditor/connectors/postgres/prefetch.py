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

Two sessions (issue 15: the server read the areas on one core while the machine had two): the first session
exports its snapshot in the BEGIN's round trip; a second connection, bounded exactly as the first (the same
:func:`~auditor.connectors.postgres.session.connect`, its own watchdog on the same ``--timeout``, the same
timeouts in the round trip that imports the snapshot), reads the planned areas of its share (``SECOND_SHARE`` in
the connector) in the same snapshot, from a second helper thread, and commits as soon as they are read: its locks
end no later than the first's. Each area still has one reader and one outcome, taken in the collection's order.
The conditions of the plan (``Read.when``) see the areas read so far by either session; a condition whose input
is not read yet says no, and the collection then asks for the area itself (time, never a wrong snapshot). When
the second session cannot be opened or import the snapshot, or fails while reading (a lost connection, its
watchdog's cut), the reads it has not handed over go to the first session in the plan's order, read in the
first's transaction: the same snapshot, nothing lost, nothing noted (a refusal or a timeout of an area's query is
noted as with one session). After its COMMIT, it reads the sequences' last values (the same autocommit batches
as :mod:`~auditor.connectors.postgres.sequences`, posted by the collection as soon as it has built the sequences)
while the first still reads; the first takes the batches left after its own COMMIT, so that both sessions end
together; then the second closes.
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
from auditor.connectors.postgres.sequences import Batches
from auditor.connectors.postgres.session import RECOVERABLE, Session, close_session
from auditor.connectors.yielding import first_line
from auditor.model import Note, Sequence

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
    """A deparsing function met a relation, attribute or constraint dropped since the snapshot was taken ("cache
    lookup failed for ..."), or a function that opens the relation itself did ("could not open relation with OID
    N": with two sessions, the other one's area may be the one running when an application's DROP commits)."""
    text = str(exc)
    return text.startswith("cache lookup failed") or text.startswith("could not open relation with OID")


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

FIRST, SECOND = 0, 1  # the workers: the collection's own session, the second catalog session


class Prefetch:
    """The helper threads and their queues of reads (see the module's docstring).

    ``second``: opens the second catalog session, already inside a transaction that imported the first's
    snapshot (:meth:`Session.import_snapshot`); the planned reads of the areas in ``share`` go to it. When it
    cannot be opened, or fails while reading, its reads not yet handed over go to the first session, in the
    plan's order: nothing is lost, and the snapshot is the same. Once its share is read it commits, then reads
    batches of the sequences' last values the collection posts (:meth:`post_sequences`), in autocommit, until
    none is left (the first session takes its part after its COMMIT: :meth:`sequence_batches`), and closes.
    """

    def __init__(self, session: Session, second: Callable[[], Session] | None = None,
                 share: frozenset[str] = frozenset()) -> None:
        self.session = session
        self.locked: Locked = {}  # the first helper's own view, ahead of the collector's
        self._cond = threading.Condition()
        self._queues: tuple[deque[int], deque[int]] = (deque(), deque())  # job numbers not yet sent, per worker
        self._jobs: list[Read] = []
        self._results: dict[int, AreaRead | None] = {}  # None: a planned read its condition skipped
        self._counts: dict[str, int | None] = {}  # rows of each area read so far, for the plan's conditions
        self._taken: set[int] = set()
        self._failed: BaseException | None = None
        self._stopping = False
        self._busy = [False, False]
        self._planned = False
        self._thread = threading.Thread(target=self._work, name="dbaudit-catalog", daemon=True)
        self._thread.start()
        # the second session: "off" (none, or given up: its reads go to the first), "opening", "reading",
        # "done" (its share read and committed)
        self._share = share
        self._second_state = "off"
        self._second: Session | None = None
        self._stop_second = False
        self.second_pid: int | None = None  # its server process, left out of the activity area
        self.second_sent = 0  # its round trips up to its COMMIT (the catalog's)
        self._batches: Batches | None = None
        self._second_thread: threading.Thread | None = None
        if second is not None:
            self._second_state = "opening"
            self._second_thread = threading.Thread(target=self._work_second, args=(second,),
                                                   name="dbaudit-catalog-2", daemon=True)
            self._second_thread.start()

    # ---- the collecting thread ------------------------------------------------------------------------------

    def plan(self, reads: list[Read]) -> None:
        """Queue reads ahead of their turn, in the order the collection will take them."""
        with self._cond:
            for read in reads:
                self._jobs.append(read)
                second = self._second_state in ("opening", "reading") and read.area in self._share \
                    and read.kind == "area"
                self._queues[SECOND if second else FIRST].append(len(self._jobs) - 1)
            self._planned = True
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
                self._queues[FIRST].append(job)
                self._cond.notify_all()
            self._taken.add(job)
            while job not in self._results:
                if self._failed is not None:
                    raise self._failed
                self._cond.wait(0.5)
            result = self._results[job]
            if result is None:  # its condition said no when the helper came to it: send it now after all
                self._results.pop(job)
                self._queues[FIRST].append(job)
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

    def post_sequences(self, sequences: tuple[Sequence, ...]) -> None:
        """The snapshot's sequences, for the second session to read their last values once its share is read
        (and the first after its COMMIT: :meth:`sequence_batches`)."""
        with self._cond:
            self._batches = Batches(sequences)
            self._cond.notify_all()

    def sequence_batches(self) -> Batches | None:
        """The batches of the sequences posted, some read already by the second session; None when none were."""
        with self._cond:
            return self._batches

    def close(self, abort: bool = False) -> None:
        """End the first helper (the collection has taken every area): at once when idle; when it is still
        sending (the collection stopped early), cancel its statement on the server and wait for it, at most a
        statement's bound, then cut the socket. ``abort`` (the collection failed): the second session too."""
        with self._cond:
            self._stopping = True
            self._queues[FIRST].clear()
            busy = self._busy[FIRST]
            self._cond.notify_all()
        _stop(self.session, self._thread, busy)
        if abort:
            self.finish()

    def second_catalog_sent(self) -> int:
        """The second session's round trips up to its COMMIT, once it is through (a moment after its last
        area was taken: its COMMIT)."""
        thread = self._second_thread
        with self._cond:
            while self._second_state in ("opening", "reading") and thread is not None and thread.is_alive():
                self._cond.wait(0.5)
            return self.second_sent

    def second_closed(self) -> None:
        """Wait (bounded) for the second session to close once no batch is left: not open beside the sample's
        watcher."""
        if self._second_thread is not None:
            self._second_thread.join(timeout=5.0)

    def finish(self) -> None:
        """End the second session: its statement cancelled when one is running, its connection closed."""
        thread = self._second_thread
        if thread is None:
            return
        with self._cond:
            self._stop_second = True
            self._queues[SECOND].clear()
            busy = self._busy[SECOND]
            second = self._second
            self._cond.notify_all()
        if second is not None:
            _stop(second, thread, busy)
        else:
            thread.join(timeout=10.0)  # opening: bounded by the connect timeout and the statement's bound

    # ---- the helper threads ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queues[FIRST] and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._queues[FIRST].popleft()
                read = self._jobs[job]
                self._busy[FIRST] = True
            try:
                result = self._send(self.session, job, read, self.locked)
                if result is not None and read.area == "locks":  # the first reading of the holders: later
                    for r in result.rows or ():                    # reads leave them out
                        self.locked.setdefault(int(r["oid"]), r)
            except BaseException as exc:  # noqa: BLE001 - handed to the collecting thread, which raises it
                with self._cond:
                    self._failed = exc
                    self._busy[FIRST] = False
                    self._cond.notify_all()
                return
            self._done(FIRST, job, read, result)

    def _send(self, session: Session, job: int, read: Read, locked: Locked) -> AreaRead | None:
        if read.when is not None and job not in self._taken and not read.when(self._counts):
            return None
        reader = read_probe if read.kind == "probe" else read_area
        return reader(session, read, locked)

    def _done(self, worker: int, job: int, read: Read, result: AreaRead | None) -> None:
        with self._cond:
            self._busy[worker] = False
            self._results[job] = result
            if result is not None:
                self._counts[read.area] = None if result.rows is None else len(result.rows)
            self._cond.notify_all()

    def _give_up_second(self, failed_job: int | None = None) -> None:
        """The second session is gone: its reads not handed over go to the first, in the plan's order.
        Holding the condition."""
        pending = [*self._queues[FIRST], *self._queues[SECOND], *(() if failed_job is None else (failed_job,))]
        self._queues[FIRST].clear()
        self._queues[FIRST].extend(sorted(pending))
        self._queues[SECOND].clear()
        self._second_state = "off"
        self._busy[SECOND] = False
        self._cond.notify_all()

    def _work_second(self, open_second: Callable[[], Session]) -> None:
        try:
            second = open_second()
        except Exception as exc:  # noqa: BLE001 - no second session (no slot, a pooler, a refusal): the first reads all
            with self._cond:
                # connected but refused the snapshot: its backend, maybe not gone yet, is left out of the activity
                self.second_pid = getattr(exc, "dbaudit_backend_pid", None)
                self._give_up_second()
            return
        with self._cond:
            self._second = second
            self.second_pid = second.conn.info.backend_pid
            if self._stop_second:
                self._second_state = "off"
            else:
                self._second_state = "reading"
        try:
            if self._read_share(second):
                self._read_sequences(second)
        finally:
            close_session(second)

    def _read_share(self, second: Session) -> bool:
        """Read the areas given to the second session, then COMMIT; False when it stopped or gave up."""
        locked: Locked = {}
        cancel = _canceller(second.conn)
        while True:
            with self._cond:
                while not self._queues[SECOND] and not self._planned and not self._stop_second:
                    self._cond.wait()
                if self._stop_second or self._second_state != "reading":
                    return False
                if not self._queues[SECOND]:
                    break
                job = self._queues[SECOND].popleft()
                read = self._jobs[job]
                self._busy[SECOND] = True
            locked.update(self.locked)  # what the first session knows of (int keys: copied at once)
            try:
                result = self._send(second, job, read, locked)
            except BaseException:  # noqa: BLE001 - the first session reads it again, in the same snapshot
                with self._cond:
                    self.second_sent = second.round_trips
                    self._give_up_second(job)
                # cut by its watchdog (--timeout, a server that stopped answering): the statement may still run
                # on the server, which notices a closed socket only when it sends; a cancel request ends it now
                if cancel is not None:
                    with suppress(Exception):
                        cancel()
                return False
            self._done(SECOND, job, read, result)
        try:
            second.commit()
        except Exception:  # noqa: BLE001 - its areas are all handed over: nothing is lost
            with self._cond:
                self.second_sent = second.round_trips
                self._second_state = "off"
                self._cond.notify_all()
            return False
        with self._cond:
            self.second_sent = second.round_trips
            self._second_state = "done"
            self._cond.notify_all()
        return True

    def _read_sequences(self, second: Session) -> None:
        with self._cond:
            while self._batches is None and not self._stop_second:
                self._cond.wait()
            if self._stop_second or self._batches is None:
                return
            batches = self._batches
            self._busy[SECOND] = True

        # lost or cut: its batch goes back, the collection reads the rest on its own session
        with suppress(Exception):
            batches.read(second, lambda: self._stop_second)
        with self._cond:
            self._busy[SECOND] = False
            self._cond.notify_all()


def _canceller(conn: psycopg.Connection[Any]) -> Callable[[], None] | None:
    """A cancel request for the statement running on ``conn``, made now: psycopg's own cancel does nothing once
    the watchdog has cut the socket (the connection counts as closed), the server's cancel key still works. It
    waits at most the connection's connect_timeout (libpq's PQcancelBlocking, PostgreSQL 17's libpq on)."""
    with suppress(Exception):
        if psycopg.capabilities.has_cancel_safe():
            request = conn.pgconn.cancel_conn()

            def cancel() -> None:
                request.blocking()
                request.finish()

            return cancel
        old = conn.pgconn.get_cancel()
        return old.cancel
    return None


def _stop(session: Session, thread: threading.Thread, busy: bool) -> None:
    """Wait for a helper told to stop: its running statement cancelled on the server, the wait bounded, then
    the socket cut."""
    conn = session.conn
    if busy and not (conn.closed or conn.broken):
        # a cancel that fails leaves the bounded wait and the cut below
        with suppress(Exception):
            conn.cancel_safe(timeout=5.0)
    bound = statement_bound_s(session.watchdog.statement_timeout_ms) if session.watchdog else 10.0
    thread.join(timeout=min(bound, 10.0))
    if thread.is_alive():
        if not conn.closed:
            shut_down(conn.pgconn.socket)
        thread.join(timeout=bound)
