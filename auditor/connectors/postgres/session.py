"""The one read-only session of a PostgreSQL collection: connecting, bounding, counting, and error wording.

Every catalog statement goes through :meth:`Session.execute`, which counts round trips and statements, so
that the snapshot can state how many queries the collection cost, and a test can prove that this number does
not grow with the schema.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import ClientCursor, errors
from psycopg.rows import RowFactory, dict_row, tuple_row

from auditor.connectors.guard import (
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE_S,
    KEEPALIVE_INTERVAL_S,
    Clock,
    WaitExpired,
    Watchdog,
    deadline_bound_ms,
    user_timeout_ms,
)
from auditor.connectors.yielding import NoFreeSlot, first_line
from auditor.connectors.yielding import room_for_one_more as _room_for_one_more
from auditor.dsn import Dsn, redact
from auditor.errors import AuditError, ConnectError, ScanInterrupted
from auditor.workload import marked

APPLICATION_NAME = "dbaudit"

# Errors of a single catalog query that leave the rest of the collection possible: the area is noted as
# incomplete and the run goes on (insufficient_privilege, lock_not_available, query_canceled by the timeout).
RECOVERABLE = (errors.InsufficientPrivilege, errors.LockNotAvailable, errors.QueryCanceled)


@dataclass(frozen=True)
class SessionLimits:
    connect_timeout_s: int = 10
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 1_000
    idle_in_transaction_timeout_ms: int = 60_000


# ------------------------------------------------------------------------------------------------------------
# SQL files
# ------------------------------------------------------------------------------------------------------------

_VARIANT = re.compile(r"^(?P<area>[a-z_]+?)(?:_pg(?P<major>\d+))?\.sql$")


def pick_sql_file(area: str, server_major: int, names: list[str]) -> str:
    """The file for ``area`` on a server of this major version.

    ``area_pgNN.sql`` serves servers from version NN on; the highest NN not above the server's wins, and the
    plain ``area.sql`` serves the rest (the oldest supported versions).
    """
    best: tuple[int, str] | None = None
    for name in names:
        m = _VARIANT.match(name)
        if not m or m.group("area") != area:
            continue
        major = int(m.group("major") or 0)
        if major <= server_major and (best is None or major > best[0]):
            best = (major, name)
    if best is None:
        raise FileNotFoundError(f"no SQL file for {area!r}")
    return best[1]


@functools.cache  # the same files, read for each of some 30 round trips per scan (and the folder listed each time)
def load_sql(area: str, server_major: int) -> str:
    folder = resources.files(__package__).joinpath("sql")
    names = [entry.name for entry in folder.iterdir()]
    return folder.joinpath(pick_sql_file(area, server_major, names)).read_text(encoding="utf-8")


def sql_description(text: str) -> str:
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return first.removeprefix("--").strip().removeprefix("description:").strip()


# ------------------------------------------------------------------------------------------------------------
# Connecting
# ------------------------------------------------------------------------------------------------------------


def _endpoint(dsn: Dsn) -> tuple[str, str]:
    """Host and port as libpq will use them, for messages."""
    p = dsn.params
    host = p.get("host") or p.get("hostaddr") or os.environ.get("PGHOST", "") or "localhost"
    port = p.get("port") or os.environ.get("PGPORT", "") or "5432"
    return host.split(",")[0], port.split(",")[0]


def _user(dsn: Dsn) -> str:
    import getpass

    user = dsn.params.get("user") or os.environ.get("PGUSER", "")
    if not user:
        try:
            user = getpass.getuser()
        except Exception:  # no login name at all (container without passwd entry)
            user = "?"
    return user


def connect_error_message(exc: psycopg.Error, dsn: Dsn, connect_timeout_s: int) -> str:
    """One line a user can act on, from psycopg's multi-line text; never the password."""
    host, port = _endpoint(dsn)
    if host.startswith("/"):
        where = f"the socket in {host} (port {port})"
    else:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    raw = str(exc)
    text = " ".join(raw.split())
    user = _user(dsn)
    database = dsn.database or user
    if isinstance(exc, errors.ConnectionTimeout) or "timeout expired" in text:
        return f"no answer from {where} within {connect_timeout_s} s (--connect-timeout)"
    m = re.search(r"failed to resolve host '([^']*)'|could not translate host name \"([^\"]*)\"", text)
    if m:
        return f"could not resolve host '{m.group(1) or m.group(2)}'"
    if ("received invalid response to SSL negotiation" in text
            or re.search(r"expected authentication request from server, but received", text)):
        # the first byte of something else's greeting ("H" of HTTP/1.1, "S" of SSH-2.0): not PostgreSQL
        return f"the server at {where} did not answer as PostgreSQL (is it another service?)"
    if "Connection refused" in text:
        return f"connection refused at {where}: is PostgreSQL running and listening there?"
    if "No such file or directory" in text and host.startswith("/"):
        return f"no PostgreSQL socket in {host} for port {port}: is the server running?"
    if "password authentication failed" in text or "authentication failed" in text:
        return f"authentication failed for user '{user}' at {where}"
    if "no password supplied" in text:
        return (f"the server at {where} asks a password for user '{user}' and none was given"
                " (PGPASSWORD, ~/.pgpass)")
    m = re.search(r'database "([^"]*)" does not exist', text)
    if m:
        return f"database '{m.group(1)}' does not exist at {where}"
    m = re.search(r'role "([^"]*)" does not exist', text)
    if m:
        return f"role '{m.group(1)}' does not exist at {where}"
    if "permission denied for database" in text or "CONNECT privilege" in text:
        return f"user '{user}' may not connect to database '{database}' at {where} (GRANT CONNECT)"
    if "no pg_hba.conf entry" in text:
        return f"the server at {where} does not accept user '{user}' for database '{database}' (pg_hba.conf)"
    if "too many clients" in text or "remaining connection slots" in text:
        return f"the server at {where} has no free connection slot"
    m = re.search(r'invalid (\w+) value: "([^"]*)"', text)
    if m:
        allowed = {"sslmode": " (disable, allow, prefer, require, verify-ca or verify-full)"}.get(m.group(1), "")
        return f"invalid {m.group(1)} value {m.group(2)!r} in the DSN{allowed}"
    if "server does not support SSL, but SSL was required" in text:
        return f"the server at {where} does not offer TLS, and sslmode requires it (use sslmode=prefer to allow " \
               "plaintext)"
    if "unsupported startup parameter: options" in text:
        # PgBouncer refuses libpq's "options" (dbaudit's timeouts travel in it) unless told to ignore it
        return f"the server at {where} is a pooler (PgBouncer?) that refuses the startup parameter 'options': " \
               "point dbaudit at the PostgreSQL server itself (a pooler in transaction mode also keeps a session's " \
               "settings for the next client)"
    if "the database system is starting up" in text or "shutting down" in text:
        return f"the server at {where} is starting up or shutting down"
    # libpq's own wording, first line only, without its "connection failed: ..." preambles
    first = raw.strip().splitlines()[0] if raw.strip() else type(exc).__name__
    first = re.sub(r"^(connection failed|connection is bad):\s*", "", first)
    first = re.sub(r'^connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ failed:\s*', "", first)
    first = re.sub(r"^FATAL:\s*", "", first)
    return f"cannot connect to {where}: {first}"


class GuardedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait for the server is bounded by a :class:`Watchdog`.

    psycopg runs each blocking operation (execute, fetch, commit) through :meth:`wait`; bracketing it here
    bounds the probes too, which use the connection directly.
    """

    watchdog: Watchdog | None = None

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        dog = self.watchdog
        if dog is None or self.closed:
            return super().wait(gen, *args, **kwargs)
        with dog.waiting(self.pgconn.socket):
            return super().wait(gen, *args, **kwargs)


class TupleRows(list[tuple[Any, ...]]):
    """An area's rows as tuples, with their columns' names: the large catalog areas are fetched so (psycopg
    makes a tuple in C; a dict per row cost three times as much CPU to fetch, at 300,000 rows for 10,000 tables).
    Read them by name through :meth:`fields`."""

    def __init__(self, rows: Iterable[tuple[Any, ...]] = (), columns: Iterable[str] = ()) -> None:
        super().__init__(rows)
        self.columns = tuple(columns)

    def fields(self, *names: str) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
        """A row's values of these columns, as a tuple in this order. Rows that were not read have no columns:
        there is then no row to read either."""
        if not self.columns:
            return itemgetter(slice(0, 0))
        positions = [self.columns.index(name) for name in names]
        if len(positions) == 1:
            return itemgetter(slice(positions[0], positions[0] + 1))
        return itemgetter(*positions)


def as_tuples(rows: list[Any]) -> TupleRows:
    """The rows of an area :meth:`Session.query` returned as tuples (one in :attr:`Session.tuple_areas`)."""
    if not isinstance(rows, TupleRows):
        raise TypeError("expected the rows of an area read as tuples (Session.tuple_areas)")
    return rows


class Session:
    """An autocommit connection that counts what it sends; the catalog is read inside :meth:`transaction`."""

    def __init__(self, conn: psycopg.Connection[Any], dsn: Dsn, watchdog: Watchdog | None = None) -> None:
        self.conn = conn
        self.dsn = dsn
        self.watchdog = watchdog
        self.round_trips = 0  # execute calls: what the snapshot reports as queries_sent
        self.statements = 0  # SQL statements inside them, as the server counts them
        self.server_major = conn.info.server_version // 10000
        self.in_transaction = False  # inside :meth:`transaction` (the catalog's), else autocommit
        # the SQL files whose rows :meth:`query` returns as TupleRows (the collector's large areas); dicts else
        self.tuple_areas: frozenset[str] = frozenset()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Send one round trip (may hold several statements) and return the rows of the last result."""
        rows: list[dict[str, Any]] = self._send(sql, params, dict_row)[0]
        return rows

    def execute_tuples(self, sql: str, params: Mapping[str, Any] | None = None) -> TupleRows:
        """:meth:`execute`, the rows as tuples."""
        rows, columns = self._send(sql, params, tuple_row)
        return TupleRows(rows, columns)

    def _send(self, sql: str, params: Mapping[str, Any] | None, row_factory: RowFactory[Any]
              ) -> tuple[list[Any], list[str]]:
        self.round_trips += 1
        self.statements += _count_statements(sql)
        with self.conn.cursor(row_factory=row_factory) as cur:
            try:
                cur.execute(sql, params)  # type: ignore[arg-type]  # text from our own files, not user input
            except (psycopg.OperationalError, WaitExpired) as exc:
                if isinstance(exc, WaitExpired) or self.conn.closed or self.conn.broken:
                    raise self.interruption(exc) from None
                raise
            rows: list[Any] = []
            columns: list[str] = []
            while True:
                if cur.description is not None:
                    rows = cur.fetchall()
                    columns = [c.name for c in cur.description]
                if not cur.nextset():
                    break
            return rows, columns

    def interruption(self, exc: BaseException) -> ScanInterrupted:
        """The error to end the scan with when the connection was cut or lost: why, in one line."""
        why = self.watchdog.describe() if self.watchdog is not None else None
        if why is None:
            host, port = _endpoint(self.dsn)
            why = f"lost the connection to {host}:{port}: {first_line(exc)}"
        return ScanInterrupted(redact(why, self.dsn))

    def query(self, area: str, params: Mapping[str, Any], names: Mapping[str, str] | None = None) -> list[Any]:
        """Run the catalog query of ``area``: in the catalog's transaction under a savepoint (a refusal must not
        end the transaction), after its COMMIT as a statement of its own (its locks end with it). The rows are
        dicts, or :class:`TupleRows` for the files named in :attr:`tuple_areas`.

        The savepoint travels in the same round trip as the query, thanks to client-side binding. ``names``
        fills ``{name}`` placeholders of the file with identifiers the caller has quoted (an extension's
        schema, read from the catalog).
        """
        sql = load_sql(area, self.server_major)
        for key, quoted in (names or {}).items():
            sql = sql.replace("{" + key + "}", quoted)
        send: Callable[[str, Mapping[str, Any]], list[Any]] = (
            self.execute_tuples if area in self.tuple_areas else self.execute)
        # --timeout: the server ends the statement when the collection's time is up (DeadlineReached: none
        # left); SET LOCAL lasts until the transaction's end (the savepoint's rollback, or the implicit
        # transaction of this round trip in autocommit mode), and every later query sets it again
        bound = None if self.watchdog is None else deadline_bound_ms(self.watchdog.clock,
                                                                      self.watchdog.statement_timeout_ms)
        before = [marked("SAVEPOINT dbaudit_area")] if self.in_transaction else []
        if bound is not None:
            before.append(marked(f"SET LOCAL statement_timeout = {bound}"))
        # the marker after the semicolon stays with the SELECT in pg_stat_statements, which then tells our
        # catalog reads apart from the application's workload
        return send(";\n".join((*before, marked(sql))), params)

    def rollback_area(self) -> None:
        """Undo a failed :meth:`query`: back to its savepoint in the transaction; nothing to undo after it."""
        if self.in_transaction:
            self.execute(marked("ROLLBACK TO SAVEPOINT dbaudit_area"))

    @contextmanager
    def transaction(self, export: bool = False) -> Iterator[str | None]:
        """One REPEATABLE READ READ ONLY transaction, so that every catalog query sees the same state.

        Opened and ended by hand (the connection is in autocommit mode) so that psycopg sends nothing of its
        own. It holds the catalog queries only: the probes run after its COMMIT, each statement on its own,
        so that no lock outlives the statement that needed it.

        ``export``: the same round trip exports the transaction's snapshot (``pg_export_snapshot()``), whose
        id is yielded, for a second session to read the same state (:meth:`import_snapshot`); None when the
        server refused it (the transaction is then begun again without it: nothing was read yet). A hot standby
        exports and imports too (PostgreSQL 10 on, where the export no longer needs a transaction id; tried on
        a PostgreSQL 15 standby); 9.6 and older refuse it there ("cannot assign TransactionIds during
        recovery").
        """
        begin = (marked("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), BEGIN_JIT_OFF)
        snapshot: str | None = None
        if export:
            try:
                rows = self.execute(";\n".join((*begin, marked(EXPORT_WITH_HEADROOM))))
                # a second connection only where the server has room for it: never the last free slots, which
                # an application may need (the catalog is then read by this session alone, as before)
                if _no_room(rows[0]) is None:
                    snapshot = str(rows[0]["id"])
            except psycopg.Error:
                if self.conn.closed or self.conn.broken:
                    raise
                # an export cannot go under a savepoint: the failed transaction ends, and begins again as usual
                self.execute(marked("ROLLBACK"))
        if snapshot is None:
            self.execute(";\n".join(begin))
        self.in_transaction = True
        yield snapshot
        self.commit()

    def import_snapshot(self, snapshot: str, limits: SessionLimits) -> None:
        """Set the session's bounds (as :func:`open_session` does) and begin a transaction that reads the
        snapshot another session exported (:meth:`transaction`): one round trip. A refusal raises, and the
        session is then not to be used (its SETs went with the failed transaction)."""
        if not _SNAPSHOT_ID.fullmatch(snapshot):
            raise ValueError(f"unexpected snapshot id {snapshot!r}")
        self.execute(";\n".join((
            *limit_statements(limits), marked("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
            marked(f"SET TRANSACTION SNAPSHOT '{snapshot}'"), BEGIN_JIT_OFF)))
        self.in_transaction = True

    def commit(self) -> None:
        """End the catalog's transaction (:meth:`transaction` or :meth:`import_snapshot`)."""
        # nothing was written, so ending it either way is the same; COMMIT says "all went well" in logs
        self.execute(marked("COMMIT"))
        self.in_transaction = False


# JIT compiles a query whose estimated cost passes jit_above_cost: tables.sql and sequences.sql do at 10,000
# tables, and compiling them cost more (0.3-0.5 s each) than running them; the catalog queries are not the long
# analytic queries JIT pays off for. SET LOCAL: for this transaction only.
BEGIN_JIT_OFF = marked("SET LOCAL jit = off")
# The snapshot's export, and how many connection slots an ordinary role still has: max_connections less the
# superuser-reserved slots (reserved_connections too on PostgreSQL 16+) less the client backends connected now
# (pg_stat_activity lists every backend to every role; walsenders and background workers have slots of their own)
_HEADROOM = """current_setting('max_connections')::int AS max_connections,
       current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
         - coalesce(current_setting('reserved_connections', true)::int, 0)
         - (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend')::int
         AS free_slots"""
EXPORT_WITH_HEADROOM = f"SELECT pg_catalog.pg_export_snapshot() AS id,\n       {_HEADROOM}"


def crowded(session: Session) -> NoFreeSlot | None:
    """Why a second connection (the sample's lock watcher) must not be opened now, or None: as for the catalog's
    second session (:func:`_room_for_one_more`), at least 5 slots and a tenth of max_connections stay free
    after it (rt18: on a server one slot from full, the watcher took the last one and the application was
    refused for the sample's three seconds). One statement."""
    return _no_room(session.execute(marked(f"SELECT {_HEADROOM}"))[0])


def _no_room(headroom: Mapping[str, Any]) -> NoFreeSlot | None:
    """What :data:`_HEADROOM` read, judged: why no second connection, or None."""
    free, most = int(headroom["free_slots"]), int(headroom["max_connections"])
    return None if _room_for_one_more(free, most) else NoFreeSlot.of(free, most)


# what pg_export_snapshot() returns ("00000003-0000001B-1"): checked before it goes into SQL text
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9]+")


def limit_statements(limits: SessionLimits) -> tuple[str, ...]:
    """The session's bounds, for the session, not LOCAL: the probes run outside any transaction."""
    return tuple(marked(f"SET {name} = {int(value)}") for name, value in (
        ("statement_timeout", limits.statement_timeout_ms), ("lock_timeout", limits.lock_timeout_ms),
        ("idle_in_transaction_session_timeout", limits.idle_in_transaction_timeout_ms)))


def _count_statements(sql: str) -> int:
    # our SQL files hold no semicolon inside literals or comments, so a split is exact for them
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return sum(1 for part in body.split(";") if part.strip())


def connect(dsn: Dsn, limits: SessionLimits, watchdog: Watchdog | None = None) -> psycopg.Connection[Any]:
    """Open the connection (autocommit, no transaction yet), or raise ConnectError with one clear line.

    Read-only is a startup option: it holds for the whole session, inside and outside transactions. The
    timeouts are set by :func:`open_session` with a session-level SET instead, so that pg_settings' reset_val
    still shows the server's own values to the settings checks. TCP keepalives and ``tcp_user_timeout`` let
    the kernel notice a dead peer; the watchdog bounds the waits themselves. A DSN that sets any of these keeps
    its own value.
    """
    kwargs: dict[str, Any] = dict(dsn.params)
    kwargs["connect_timeout"] = str(limits.connect_timeout_s)
    kwargs["application_name"] = APPLICATION_NAME
    for key, value in (("keepalives", 1), ("keepalives_idle", KEEPALIVE_IDLE_S),
                       ("keepalives_interval", KEEPALIVE_INTERVAL_S), ("keepalives_count", KEEPALIVE_COUNT),
                       ("tcp_user_timeout", user_timeout_ms(limits.statement_timeout_ms))):
        kwargs.setdefault(key, str(value))
    kwargs["options"] = (kwargs.get("options", "") + " -c default_transaction_read_only=on").strip()
    try:
        conn = GuardedConnection.connect(autocommit=True, cursor_factory=ClientCursor, **kwargs)
    except psycopg.Error as exc:
        raise ConnectError(redact(connect_error_message(exc, dsn, limits.connect_timeout_s), dsn)) from None
    conn.watchdog = watchdog
    return conn


@contextmanager
def open_session(dsn: Dsn, limits: SessionLimits, clock: Clock | None = None) -> Iterator[Session]:
    """A read-only, bounded session (see :func:`connect`), closed on the way out."""
    watchdog = Watchdog(limits.statement_timeout_ms, clock or Clock())
    conn = connect(dsn, limits, watchdog)
    try:
        session = Session(conn, dsn, watchdog)
        session.execute(";\n".join(limit_statements(limits)))  # one round trip for the three
        yield session
    except psycopg.Error as exc:
        if conn.closed or conn.broken:
            raise Session(conn, dsn, watchdog).interruption(exc) from None
        raise AuditError(redact(f"catalog read failed: {first_line(exc)}", dsn)) from None
    finally:
        watchdog.close()
        conn.close()


@contextmanager
def read_only_session(dsn: Dsn, limits: SessionLimits) -> Iterator[Session]:
    """A session inside one read-only REPEATABLE READ transaction (the catalog's), for tests and tools."""
    with open_session(dsn, limits) as session, session.transaction():
        yield session


def open_imported(dsn: Dsn, limits: SessionLimits, clock: Clock, snapshot: str) -> Session:
    """A second catalog session, bounded like the first (:func:`connect`: read-only, application_name,
    keepalives; its own :class:`Watchdog` on the same ``--timeout``; the same timeouts), inside a transaction
    that reads the snapshot the first exported. Close it with :func:`close_session`."""
    watchdog = Watchdog(limits.statement_timeout_ms, clock)
    try:
        conn = connect(dsn, limits, watchdog)
    except BaseException:
        watchdog.close()
        raise
    session = Session(conn, dsn, watchdog)
    try:
        session.import_snapshot(snapshot, limits)
    except BaseException as exc:
        # its backend may still be on its way out when the first session reads the activity: still dbaudit's
        exc.dbaudit_backend_pid = conn.info.backend_pid  # type: ignore[attr-defined]
        close_session(session)
        raise
    return session


def close_session(session: Session) -> None:
    """Close a session's connection (its open transaction, if any, ends with it) and its watchdog."""
    if session.watchdog is not None:
        session.watchdog.close()
    session.conn.close()
