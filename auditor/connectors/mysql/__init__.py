"""MySQL and MariaDB connector: one read-only session, a fixed number of catalog queries, a Snapshot out.

Everything comes from ``information_schema`` in bulk (one query per snapshot area, whatever the number of
tables), index usage from ``performance_schema`` when it is on, index sizes from InnoDB's persistent
statistics when the session may read them. The SQL lives in ``sql/*.sql``, one file per area, with
per-flavor variants by suffix (``indexes.mysql8.sql``, ``indexes.mariadb.sql``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import re
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pymysql
import pymysql.charset
import pymysql.cursors

from auditor import progress
from auditor.bulk import gc_paused, leading_fields
from auditor.connectors import CollectOptions, interrupted, sample_budget, with_sampling
from auditor.connectors.guard import (
    Clock,
    DeadlineReached,
    WaitExpired,
    Watchdog,
    deadline_bound_ms,
    keepalive,
    statement_bound_s,
)
from auditor.connectors.mysql import operations
from auditor.connectors.mysql.maintenance import collect_maintenance
from auditor.connectors.mysql.posture import collect_posture, mysql_login
from auditor.connectors.mysql.replication import collect_replication
from auditor.connectors.mysql.yielding import MySqlLockYield
from auditor.connectors.yielding import NoFreeSlot, room_for_one_more, unavailable_note_text
from auditor.dsn import Dsn, redact
from auditor.errors import ConnectError, ScanInterrupted
from auditor.model import (
    Column,
    ColumnRef,
    Constraint,
    Index,
    IndexKey,
    Note,
    Snapshot,
    Table,
    TableStats,
)
from auditor.model import (
    Sequence as SequenceInfo,
)
from auditor.operations import Activity
from auditor.sampling import SamplingBudget, sampling_off
from auditor.workload import DBAUDIT_MARKER

SYSTEM_SCHEMAS = frozenset({"information_schema", "performance_schema", "mysql", "sys"})

PERFORMANCE_SCHEMA_ENABLE = "[mysqld]\nperformance_schema = ON"

SETTINGS = (
    "version", "version_comment", "performance_schema", "innodb_page_size", "auto_increment_increment",
    "auto_increment_offset", "max_connections", "innodb_buffer_pool_size", "sql_mode", "character_set_server",
    "collation_server", "default_storage_engine", "innodb_file_per_table", "innodb_stats_persistent",
    "innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin", "binlog_format", "read_only",
    "transaction_isolation", "tx_isolation", "lower_case_table_names", "long_query_time", "slow_query_log",
    "table_open_cache", "tmp_table_size", "max_heap_table_size", "max_allowed_packet", "wait_timeout",
    "query_cache_type", "query_cache_size", "performance_schema_digests_size", "max_digest_length",
    "information_schema_stats_expiry", "userstat", "foreign_key_checks", "time_zone", "system_time_zone",
    # durability, memory, connections and transport (the settings and security checks)
    "innodb_doublewrite", "innodb_flush_method", "innodb_log_file_size", "innodb_buffer_pool_instances",
    "extra_max_connections", "max_user_connections", "have_ssl", "have_openssl", "require_secure_transport",
    "bind_address", "skip_networking", "ssl_cert", "tls_version", "interactive_timeout",
    "innodb_stats_auto_recalc",
)

# Counters that say performance_schema ran out of room: then a missing usage row is no proof of zero reads.
_PS_LOST = ("Performance_schema_index_stat_lost", "Performance_schema_table_handles_lost",
            "Performance_schema_table_instances_lost")

_INTEGER_MAX = {
    "tinyint": (127, 255),
    "smallint": (32767, 65535),
    "mediumint": (8388607, 16777215),
    "int": (2147483647, 4294967295),
    "integer": (2147483647, 4294967295),
    "bigint": (9223372036854775807, 18446744073709551615),
}

_CONSTRAINT_TYPES = {"PRIMARY KEY": "primary_key", "UNIQUE": "unique", "FOREIGN KEY": "foreign_key"}


def load_sql(name: str) -> str:
    path = resources.files("auditor.connectors.mysql").joinpath("sql", f"{name}.sql")
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1 << 16)  # the same few names, quoted some 200,000 times for 10,000 tables
def quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# ------------------------------------------------------------------------------------------------------------
# Session
# ------------------------------------------------------------------------------------------------------------


class _Session:
    """A connection that counts its round trips (the query-count test and the benchmark read the figure), and
    whose every wait is bounded by the watchdog (a server that stops answering ends the scan, not hangs it)."""

    def __init__(self, conn: pymysql.connections.Connection[Any], watchdog: Watchdog | None = None) -> None:
        self.conn = conn
        self.queries = 0
        self.watchdog = watchdog
        # while the catalog is read (flavor, version): each SELECT's server-side limit is capped by what is left
        # of the collection's time (--timeout)
        self.capped: tuple[str, int] | None = None
        # the last statement ran under what was left of --timeout rather than the session's bound: its server-side
        # cut is the deadline's even when the server's timer fires a little before the client's clock says so
        self.cut_by_deadline = False

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        sql = self._capped(sql)
        self.queries += 1
        with self._bounded(), self.conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(f"{DBAUDIT_MARKER} {sql}", params)
            return list(cur.fetchall())

    def run(self, sql: str) -> None:
        self.queries += 1
        with self._bounded(), self.conn.cursor() as cur:
            cur.execute(f"{DBAUDIT_MARKER} {sql}")

    def use(self, database: str) -> None:
        """Make ``database`` the session's default (COM_INIT_DB, a command with no statement digest): for MySQL
        8's EXPLAIN of sample texts, which name their tables unqualified; the session runs without a default
        database until then (see _check_database)."""
        self.queries += 1
        with self._bounded():
            self.conn.select_db(database)

    def _capped(self, sql: str) -> str:
        """``sql`` under a server-side limit of what is left of the collection, when that is shorter than the
        session's (DeadlineReached: nothing left). MariaDB: ``SET STATEMENT max_statement_time``; MySQL: the
        ``MAX_EXECUTION_TIME`` hint (SELECT only, which every catalog file is)."""
        self.cut_by_deadline = False
        if self.capped is None or self.watchdog is None:
            return sql
        bound = deadline_bound_ms(self.watchdog.clock, self.watchdog.statement_timeout_ms)
        if bound is None:
            return sql
        self.cut_by_deadline = True
        flavor, vnum = self.capped
        if flavor == "mariadb" and vnum >= 100100:
            return f"SET STATEMENT max_statement_time = {bound / 1000:.3f} FOR {sql}"
        if flavor == "mysql" and vnum >= 50708:
            return _SELECT.sub(lambda m: f"{m.group(0)} /*+ MAX_EXECUTION_TIME({bound}) */", sql, count=1)
        return sql

    @contextlib.contextmanager
    def _bounded(self) -> Iterator[None]:
        sock = getattr(self.conn, "_sock", None)
        if self.watchdog is None or sock is None:
            yield
            return
        try:
            with self.watchdog.waiting(sock.fileno()):
                yield
        except WaitExpired:
            raise ScanInterrupted(self.watchdog.describe() or "the scan ran out of time") from None
        except pymysql.err.OperationalError as exc:
            why = self.watchdog.describe()
            if why is not None:
                raise ScanInterrupted(why) from None
            if _lost(exc):
                raise ScanInterrupted(f"lost the connection to the server: {_mysql_error_text(exc)}") from None
            raise


# the first SELECT keyword of a catalog file, after its header comments: where an optimizer hint goes
_SELECT = re.compile(r"^(?:\s*--[^\n]*\n)*\s*SELECT\b", re.IGNORECASE)


def _lost(exc: pymysql.err.MySQLError) -> bool:
    """The connection itself is gone (client errors 2006 server gone away, 2013 lost connection)."""
    return bool(exc.args) and exc.args[0] in (2006, 2013)


# --------------------------------------------------------------------------------------------------------------
# TLS: ssl_mode as the mysql client reads it
# --------------------------------------------------------------------------------------------------------------

TLS_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")
_CR_SSL_CONNECTION_ERROR = 2026


def tls_mode(params: Mapping[str, str]) -> str:
    """The effective ssl_mode of a DSN, as the mysql client would settle it.

    ``ssl_mode`` wins; ``ssl=true`` means required and ``ssl=false`` disabled; ``ssl_verify=true`` asks for the
    server's identity to be checked; a CA file given without a mode asks for it to be used (verify_ca), as libpq
    does for ``sslmode=require`` with a root certificate. Nothing given: preferred (TLS when the server offers
    it, plaintext otherwise), the mysql client's default.
    """
    mode = params.get("ssl_mode")
    if mode is None:
        if params.get("ssl") == "false":
            mode = "disabled"
        elif params.get("ssl") == "true":
            mode = "required"
        else:
            mode = "preferred"
    if mode in ("preferred", "required") and params.get("ssl_ca"):
        mode = "verify_ca" if params.get("ssl_mode") != "preferred" else mode
    if params.get("ssl_verify") == "true" and mode != "disabled":
        mode = "verify_identity"
    return mode


def tls_context(params: Mapping[str, str], mode: str) -> ssl.SSLContext | None:
    """The TLS context for ``mode`` (None: no TLS): certificates verified only in the verify modes."""
    if mode == "disabled":
        return None
    ca = params.get("ssl_ca")
    try:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = mode == "verify_identity"
        ctx.verify_mode = ssl.CERT_REQUIRED if mode in ("verify_ca", "verify_identity") else ssl.CERT_NONE
        if ca and mode in ("preferred", "required") and params.get("ssl_verify") != "false":
            ctx.verify_mode = ssl.CERT_REQUIRED  # a CA given is a CA to check against
        if params.get("ssl_cert"):
            ctx.load_cert_chain(params["ssl_cert"], keyfile=params.get("ssl_key") or None)
    except (OSError, ssl.SSLError) as exc:
        what = "ssl_ca" if ca and not params.get("ssl_cert") else "ssl_ca/ssl_cert/ssl_key"
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConnectError(f"cannot load the TLS files ({what}): {' '.join(str(reason).split())}") from None
    return ctx


class _Connection(pymysql.connections.Connection):  # type: ignore[type-arg]
    """PyMySQL's connection with ssl_mode enforced before any credential is sent.

    PyMySQL asks for TLS when the server offers it; whether it refuses a server without TLS depends on its
    version, and an empty ``ssl`` option silently means no TLS at all. Here a server that does not offer TLS is
    refused under required / verify_ca / verify_identity (client error 2026, as the mysql client), and
    reached in plaintext under preferred.
    """

    dbaudit_tls = "preferred"

    def _request_authentication(self) -> None:
        from pymysql.constants import CLIENT

        if self.ssl and not (self.server_capabilities & CLIENT.SSL):  # type: ignore[has-type]
            if self.dbaudit_tls in ("required", "verify_ca", "verify_identity"):
                raise pymysql.err.OperationalError(
                    _CR_SSL_CONNECTION_ERROR, "SSL is required but the server doesn't support it")
            self.ssl = False  # preferred: plaintext, as the mysql client falls back
        super()._request_authentication()  # type: ignore[misc]


def _connect_kwargs(dsn: Dsn, options: CollectOptions) -> dict[str, Any]:
    p = dsn.params
    kwargs: dict[str, Any] = {
        "user": p.get("user") or "root",
        "password": p.get("password", ""),
        # no default database: every statement dbaudit sends is recorded with SCHEMA_NAME NULL in the digest
        # table, where the workload reader leaves it out (see _connect)
        "database": None,
        "charset": p.get("charset", "utf8mb4"),
        "connect_timeout": int(p.get("connect_timeout", options.connect_timeout_s)),
        # PyMySQL reads the server's greeting under read_timeout: bound it by the connect timeout, and widen
        # it to the statement bound once connected (see _connect)
        "read_timeout": int(p.get("connect_timeout", options.connect_timeout_s)),
        "write_timeout": _socket_bound_s(options),
        "autocommit": True,
        "program_name": "dbaudit",
    }
    if p.get("unix_socket"):
        kwargs["unix_socket"] = p["unix_socket"]
    else:
        kwargs["host"] = p.get("host", "localhost")
        kwargs["port"] = int(p.get("port", "3306"))
    ctx = tls_context(p, tls_mode(p))
    if ctx is None:
        kwargs["ssl_disabled"] = True
    else:
        kwargs["ssl"] = ctx
    return kwargs


def _check_database(conn: pymysql.connections.Connection[Any], database: str) -> None:
    """The DSN's database exists and the user may use it, on a connection left without a default database.

    dbaudit's session statements (SET NAMES from the driver, SET SESSION, START TRANSACTION READ ONLY, SHOW
    GLOBAL STATUS / VARIABLES, SHOW ALL SLAVES STATUS, COMMIT) carry no mark a statement digest keeps (digests drop
    comments, and these take no column alias); run without a default database they are recorded with
    ``SCHEMA_NAME`` NULL and name no audited table, so the workload reader leaves them out, while the same
    statements sent by an application or a monitoring tool connected to the database still count. A database
    that SCHEMATA does not list is selected (COM_INIT_DB, not a statement) only to get the server's own error
    (1049 unknown, 1044 no privilege)."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 AS dbaudit_probe, SCHEMA_NAME FROM information_schema.SCHEMATA"
                    " WHERE SCHEMA_NAME = %s", (database,))
        names = [str(row[1]) for row in cur.fetchall()]
    if database not in names:
        conn.select_db(database)  # raises the server's error; a name it accepts anyway is used as the default


def _socket_bound_s(options: CollectOptions) -> int:
    return max(5, int(statement_bound_s(options.statement_timeout_ms)) + 1)


def _connect(dsn: Dsn, options: CollectOptions, clock: Clock | None = None) -> pymysql.connections.Connection[Any]:
    charset = dsn.params.get("charset", "utf8mb4")
    if pymysql.charset.charset_by_name(charset) is None:
        raise ConnectError(f"unknown charset {charset!r} in the DSN (?charset=): use a MySQL character set name "
                           "such as utf8mb4")
    kwargs = _connect_kwargs(dsn, options)
    database = dsn.params.get("database") or None
    if clock is not None:
        kwargs["connect_timeout"] = max(1, min(kwargs["connect_timeout"], int(clock.cap(kwargs["connect_timeout"]))))
    where = dsn.display
    try:
        conn = _Connection(defer_connect=True, **kwargs)
        conn.dbaudit_tls = tls_mode(dsn.params)
        conn.connect()
        # a hung server must not hang the audit: the socket gives up a little after the statement bound
        conn._read_timeout = _socket_bound_s(options)
        if conn._sock is not None:
            keepalive(conn._sock, options.statement_timeout_ms)
        if database:
            _check_database(conn, database)
        return conn
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code in (1045, 1698):
            msg = f"access denied for user {kwargs['user']!r} at {where}: check the user and password"
        elif code == 1049:
            msg = f"unknown database {database!r} on {where}"
        elif code == 1044:
            msg = f"user {kwargs['user']!r} may not use database {database!r} on {where}"
        elif code == _CR_SSL_CONNECTION_ERROR and "doesn't support" in text:
            msg = (f"the server at {where} does not offer TLS, and ssl_mode={tls_mode(dsn.params)} requires it "
                   "(nothing was sent; use ssl_mode=preferred to allow plaintext)")
        elif code in (2003, 2026) and ("[SSL" in text or "certificate" in text.lower()):
            # PyMySQL wraps the ssl module's error: "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:
            # self-signed certificate in certificate chain (_ssl.c:1006)"
            found = re.search(r"\[SSL: ([A-Z_]+)\]\s*([^(]*)", text)
            reason = f"{found.group(1)}: {found.group(2).strip()}" if found else " ".join(text.split())
            msg = f"TLS handshake with {where} failed: {reason}"
        elif code in (2003, 2002, 2013, 2006):
            msg = f"cannot connect to {where}: {_network_reason(text)}"
        else:
            msg = f"cannot connect to {where}: MySQL error {code}: {text}"
        raise ConnectError(redact(msg, dsn)) from None
    except ssl.SSLError as exc:
        raise ConnectError(redact(f"TLS handshake with {where} failed: {exc.reason or exc}", dsn)) from None
    except OSError as exc:  # includes socket timeouts
        raise ConnectError(redact(f"cannot connect to {where}: {exc}", dsn)) from None
    except (pymysql.err.MySQLError, LookupError, ValueError) as exc:
        raise ConnectError(redact(f"cannot connect to {where}: {' '.join(str(exc).split())}", dsn)) from None


def _network_reason(text: str) -> str:
    low = text.lower()
    if "name or service not known" in low or "nodename nor servname" in low or "errno -2" in low \
            or "errno -3" in low or "no address associated" in low:
        return "unknown host"
    if "refused" in low:
        return "connection refused (is the server running and listening on that port?)"
    if "timed out" in low or "timeout" in low:
        return "timed out"
    if "no such file" in low:
        return "no server socket at that path"
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------------------------
# Collection
# ------------------------------------------------------------------------------------------------------------


def version_num(version: str) -> int:
    """'10.11.6-MariaDB-0+deb12u1' -> 101106, '8.0.36' -> 80036 (a 5.5.5- replication prefix is dropped)."""
    text = version[len("5.5.5-"):] if version.startswith("5.5.5-") else version
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        return 0
    major, minor, patch = (int(g) for g in m.groups())
    return major * 10000 + minor * 100 + patch


def _session_setup(flavor: str, vnum: int, options: CollectOptions) -> str:
    lock_s = max(1, (options.lock_timeout_ms + 999) // 1000)
    # net_write_timeout: a client that stops reading must not keep a statement (and its metadata lock)
    # "Writing to net" for the server's 60 s default
    write_s = max(5, int(statement_bound_s(options.statement_timeout_ms)) + 1)
    parts = [f"lock_wait_timeout = {lock_s}", f"innodb_lock_wait_timeout = {lock_s}",
             f"net_write_timeout = {write_s}"]
    if flavor == "mariadb":
        if vnum >= 100100:
            parts.append(f"max_statement_time = {options.statement_timeout_ms / 1000:.3f}")
    else:
        if vnum >= 50708:
            parts.append(f"max_execution_time = {int(options.statement_timeout_ms)}")
        if vnum >= 80000:
            # MySQL 8 caches TABLES/STATISTICS figures for a day by default; the audit wants today's
            parts.append("information_schema_stats_expiry = 0")
    return "SET SESSION " + ", ".join(parts)


def select_schemas(names: Iterable[str], database: str | None, options: CollectOptions) -> list[str]:
    if database:
        return [database]
    chosen = []
    for name in names:
        if name.lower() in SYSTEM_SCHEMAS:
            continue
        if options.include_schemas and not any(fnmatch.fnmatchcase(name, g) for g in options.include_schemas):
            continue
        if any(fnmatch.fnmatchcase(name, g) for g in options.exclude_schemas):
            continue
        chosen.append(name)
    return chosen


def collect(dsn: Dsn, options: CollectOptions | None = None) -> Snapshot:
    """Open a read-only session on a MySQL or MariaDB server and return its snapshot."""
    options = options or CollectOptions()
    started = time.monotonic()
    clock = Clock.start(options.timeout_s, options.started, reserve=True)
    conn = _connect(dsn, options, clock)
    watchdog = Watchdog(options.statement_timeout_ms, clock)
    session = _Session(conn, watchdog)
    try:
        try:
            return _collect(session, dsn, options, started, clock)
        except DeadlineReached:
            raise ScanInterrupted(_catalog_deadline(clock)) from None
        except ScanInterrupted:
            if clock.expired():
                raise ScanInterrupted(_catalog_deadline(clock)) from None
            raise
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else 0
            text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
            if code in (1969, 3024) and (clock.expired() or session.cut_by_deadline):
                raise ScanInterrupted(_catalog_deadline(clock)) from None
            if code in (1969, 3024):  # max_statement_time / max_execution_time exceeded
                raise ConnectError(
                    f"a catalog query on {dsn.display} ran past the statement bound of "
                    f"{options.statement_timeout_ms} ms"
                ) from None
            raise ConnectError(redact(f"{dsn.display}: MySQL error {code}: {text}", dsn)) from None
        except pymysql.err.MySQLError as exc:
            raise ConnectError(redact(f"{dsn.display}: {exc}", dsn)) from None
    finally:
        watchdog.close()
        with contextlib.suppress(pymysql.err.Error, OSError):
            conn.close()


def _catalog_deadline(clock: Clock) -> str:
    """The one line of a MySQL/MariaDB scan whose catalog ``--timeout`` cut: its snapshot is built from every
    area at once (the tables' rows are filtered by the constraints', privileges' and partitions' reads), so
    there is no partial report of it."""
    return (f"{clock.reached()} while the catalog was read (the catalog is read whole or not at all on MySQL and "
            "MariaDB, so there is no report): raise --timeout")


def _collect(session: _Session, dsn: Dsn, options: CollectOptions, started: float, clock: Clock) -> Snapshot:
    # the catalog's rows and the snapshot built from them (millions of objects on a 10,000-table schema, none of
    # them garbage): without the collector walking them again and again, half the client's time there
    with gc_paused():
        snap, probing = _read_catalog(session, dsn, options, started)
    return _run_probes(session, snap, options, probing.flavor, probing.vnum, dsn=dsn, ps_on=probing.ps_on,
                       user=probing.user, digest_lost=probing.digest_lost, clock=clock)


@dataclass(frozen=True)
class _Probing:
    """What the probes after the catalog need to know of the server."""

    flavor: str
    vnum: int
    ps_on: bool
    user: str | None
    digest_lost: int | None


def _read_catalog(session: _Session, dsn: Dsn, options: CollectOptions, started: float) -> tuple[Snapshot, _Probing]:
    notes: list[Note] = []
    progress.report("catalog")
    server = session.rows(load_sql("server"))[0]
    version = str(server["server_version"])
    comment = str(server["version_comment"] or "")
    flavor = "mariadb" if "mariadb" in (version + " " + comment).lower() else "mysql"
    vnum = version_num(version)
    now_utc: datetime = server["now_utc"].replace(tzinfo=UTC)

    session.run(_session_setup(flavor, vnum, options))
    session.run("SET SESSION TRANSACTION READ ONLY")
    session.run("START TRANSACTION READ ONLY")
    session.capped = (flavor, vnum)

    settings = {
        str(r["Variable_name"]): str(r["Value"])
        for r in session.rows(load_sql("settings"), {"names": SETTINGS})
    }
    status = {str(r["Variable_name"]): str(r["Value"]) for r in session.rows(load_sql("status"))}
    server_started = None
    if status.get("Uptime", "").isdigit():
        server_started = now_utc - timedelta(seconds=int(status["Uptime"]))

    database = dsn.params.get("database") or ""
    schema_names = [str(r["schema_name"]) for r in session.rows(load_sql("schemas"))]
    schemas = select_schemas(schema_names, database, options)
    # an empty IN () is a syntax error; a name no schema has keeps the query count fixed and matches nothing
    params = {"schemas": tuple(schemas) or ("",)}

    table_rows = session.rows(load_sql("tables"), params)
    # named, so that MariaDB opens the partitioned tables alone; a name no table has keeps the query count fixed
    partitioned = tuple(sorted({_text(r["table_name"]) for r in table_rows
                                if "partitioned" in _text(r["create_options"]).lower()})) or ("",)
    partition_counts = {(_text(r["schema_name"]), _text(r["table_name"])): int(r["partitions"])
                        for r in session.rows(load_sql("partitions"), {**params, "partitioned": partitioned})}
    column_rows = session.rows(load_sql("columns"), params)
    is_mysql8 = flavor == "mysql" and vnum >= 80000
    if is_mysql8:
        index_sql = "indexes.mysql8"
    elif flavor == "mariadb" and vnum >= 100600:
        index_sql = "indexes.mariadb"
    else:
        index_sql = "indexes"
    index_rows = session.rows(load_sql(index_sql), params)
    constraint_rows = session.rows(load_sql("constraints"), params)

    check_rows: list[dict[str, Any]] = []
    has_checks = (flavor == "mariadb" and vnum >= 100202) or (flavor == "mysql" and vnum >= 80016)
    if has_checks:
        check_sql = "check_constraints.mysql8" if is_mysql8 else "check_constraints"
        check_rows = session.rows(load_sql(check_sql), params)

    partial = {(_text(r["schema_name"]), _text(r["table_name"]))
               for r in session.rows(load_sql("partial_tables"), params)}
    if partial:
        notes.append(_partial_note(partial, _text(server.get("current_user_name"))))
        table_rows, column_rows, index_rows, constraint_rows, check_rows = (
            [r for r in rows if (_text(r["schema_name"]), _text(r["table_name"])) not in partial]
            for rows in (table_rows, column_rows, index_rows, constraint_rows, check_rows))

    capabilities: list[str] = []
    size_rows: list[dict[str, Any]] = []
    sizes_read = False
    try:
        size_rows = session.rows(load_sql("index_sizes"), params)
        sizes_read = True
        capabilities.append("innodb_index_stats")
    except pymysql.err.MySQLError as exc:
        # no SELECT on mysql.innodb_index_stats is common for audit users: sizes stay unknown
        notes.append(Note(
            area="indexes",
            message="index sizes unknown: mysql.innodb_index_stats is not readable "
                    f"({_mysql_error_text(exc)}); MT11 table-fragmentation then sees only DATA_FREE, not the "
                    "pages that deletes emptied inside the tables' indexes",
            enable="GRANT SELECT ON mysql.innodb_index_stats TO <audit user>",
        ))

    ps_on = settings.get("performance_schema", "").upper() in ("ON", "1")
    usage_rows: list[dict[str, Any]] | None = None
    if ps_on:
        try:
            usage_rows = session.rows(load_sql("index_usage"), params)
            capabilities.append("performance_schema")
        except pymysql.err.MySQLError as exc:
            notes.append(Note(
                area="statistics",
                message=f"index usage unknown: performance_schema is not readable ({_mysql_error_text(exc)})",
                enable="GRANT SELECT ON performance_schema.* TO <audit user>",
            ))
    else:
        notes.append(Note(
            area="statistics",
            message="performance_schema is off: index usage and the workload are not recorded by this server",
            enable=PERFORMANCE_SCHEMA_ENABLE,
        ))
    lost = [k for k in _PS_LOST if status.get(k, "0") not in ("0", "")]
    if usage_rows is not None and lost:
        notes.append(Note(
            area="statistics",
            message="performance_schema dropped some table/index instruments (" + ", ".join(lost) + " > 0): "
                    "indexes without a usage row are reported as unknown, not as unused",
            enable="[mysqld]\nperformance_schema_max_table_instances = -1\n"
                   "performance_schema_max_table_handles = -1",
        ))
    activity = _read_activity(session, now_utc, ps_on, _text(server.get("current_user_name")), notes)
    posture = collect_posture(
        lambda area: session.rows(load_sql(area)), flavor, status,
        mysql_login(_text(server.get("current_user_name"))), "performance_schema" in capabilities, notes,
        ps_on=ps_on)
    maintenance = collect_maintenance(
        _innodb_tables(table_rows), lambda area: session.rows(load_sql(area), params), flavor, vnum, settings,
        mysql_login(_text(server.get("current_user_name"))), notes,
        index_pages=size_rows if sizes_read else None)
    replication = collect_replication(lambda area: session.rows(load_sql(area)), flavor, vnum, now_utc,
                                      mysql_login(_text(server.get("current_user_name"))), notes)
    session.run("COMMIT")
    session.capped = None
    catalog_queries = session.queries
    catalog_seconds = round(time.monotonic() - started, 3)

    tables, sequences = _build_tables(table_rows, column_rows, partition_counts)
    if usage_rows is not None:
        tables = _with_table_stats(tables, usage_rows, missing_is_zero=not lost)
    constraints = _build_constraints(constraint_rows, check_rows)
    notes.extend(constraint_notes(constraints, index_rows))
    page_size = int(settings.get("innodb_page_size", "16384") or 16384)
    uncounted: frozenset[tuple[str, str]] = frozenset()
    if flavor == "mariadb" and usage_rows is not None:
        # MariaDB's performance_schema records no index reads on a partitioned table (its partition handler
        # is not instrumented per index): 0 there is no evidence of disuse, the usage is unknown
        uncounted = frozenset(t.key for t in tables if t.partitioned)
        if uncounted:
            notes.append(Note(
                area="statistics",
                message=f"index usage unknown on {len(uncounted)} partitioned table(s): MariaDB's "
                        "performance_schema counts no index reads on partitioned tables (even of indexes their "
                        "queries use), so IX01 (unused-index) does not judge their indexes",
                objects=tuple(sorted(f"{schema}.{name}" for schema, name in uncounted)[:20]),
            ))
    indexes = _build_indexes(
        index_rows, constraints, size_rows, page_size, usage_rows, missing_is_zero=not lost, uncounted=uncounted
    )
    increment = int(settings.get("auto_increment_increment", "1") or 1)
    sequences = [s if increment == 1 else _with_increment(s, increment) for s in sequences]

    snap = Snapshot(
        engine="mysql",
        server_version=version,
        server_version_num=vnum,
        database=database,
        dsn=dsn.display,
        collected_at=datetime.now(UTC),
        collect_duration_s=catalog_seconds,
        queries_sent=catalog_queries,
        flavor=flavor,
        settings=settings,
        capabilities=tuple(capabilities),
        stats_reset=None,
        server_started=server_started,
        schemas=tuple(schemas),
        tables=tuple(tables),
        indexes=tuple(indexes),
        constraints=tuple(constraints),
        sequences=tuple(sequences),
        notes=tuple(notes),
        activity=activity,
        posture=posture,
        maintenance=maintenance,
        replication=replication,
    )
    return snap, _Probing(flavor, vnum, ps_on, user=_text(server.get("current_user_name")) or None,
                          digest_lost=_opt_int(status.get("Performance_schema_digest_lost")))


def _crowded(snap: Snapshot) -> NoFreeSlot | None:
    """Why the sample's lock watcher must not be opened (:func:`room_for_one_more`), or None, from the
    ``Threads_connected`` and ``max_connections`` the catalog read; None when either is unknown."""
    threads = snap.posture.status_int("Threads_connected") if snap.posture is not None else None
    limit = snap.settings.get("max_connections", "")
    if threads is None or not limit.isdigit():
        return None
    free, most = int(limit) - threads, int(limit)
    return None if room_for_one_more(free, most) else NoFreeSlot.of(free, most)


def _run_probes(session: _Session, snap: Snapshot, options: CollectOptions, flavor: str, vnum: int, *,
                dsn: Dsn, ps_on: bool, user: str | None, digest_lost: int | None, clock: Clock) -> Snapshot:
    """The bounded live probes after the catalog's COMMIT, statement by statement (autocommit), so that the
    metadata lock a sample takes ends with it; they count their own round trips (not in ``queries_sent``).

    ``ps_on`` is False only when performance_schema is off; when it is on but not readable the workload probe
    records the refusal itself. When the connection is lost or cut (the server stopped answering,
    ``--timeout`` ran out), the snapshot keeps what was collected and says what is missing in ``interrupted``.
    """
    from auditor.connectors.mysql import workload

    is_mysql8 = flavor == "mysql" and vnum >= 80000
    missing = ["sampling", "workload"] if options.workload else ["sampling"]
    try:
        if clock.expired():
            raise ScanInterrupted(f"the scan ran past --timeout {clock.timeout_s:g} s")
        bounded = sample_budget(options, clock)
        if not (bounded.sample and bounded.normalization_sample):
            # sampling off: its module (and numpy's 0.1-0.2 s of import, which it needs) is not loaded at all
            snap = with_sampling(snap, sampling_off(SamplingBudget.from_options(bounded)), bounded)
        else:
            from auditor.connectors.mysql import sampling

            # the watcher is a second connection: not where the applications would be left without a free slot
            # (the connections open and the limit as the catalog read them, seconds ago)
            no_room = _crowded(snap)

            def open_watcher() -> pymysql.connections.Connection[Any]:
                if no_room is not None:
                    raise no_room
                return _connect(dsn, options, clock)

            yielder = MySqlLockYield(open_watcher, operations.account(user), mariadb=flavor == "mariadb")
            try:
                snap = with_sampling(snap, sampling.probe(session, snap, bounded, flavor, vnum, yielder), bounded)
            finally:
                yielder.close()
            if yielder.unavailable is not None:
                snap = replace(snap, notes=(*snap.notes, Note(area="sampling",
                                                              message=unavailable_note_text(yielder.unavailable))))
        missing.pop(0)
        if options.workload:
            if clock.expired():
                raise ScanInterrupted(f"the scan ran past --timeout {clock.timeout_s:g} s")
            snap = workload.collect_workload(
                session, snap, load_sql("digests.mysql8" if is_mysql8 else "digests"), ps_on=ps_on,
                is_mysql8=is_mysql8, user=user, digest_lost=digest_lost,
                options=workload.MySqlWorkloadOptions(
                    keep_sample_text=options.show_samples,
                    time_budget_s=clock.cap(workload.MySqlWorkloadOptions.time_budget_s, reserve=2.0)))
    except ScanInterrupted as exc:
        return interrupted(snap, exc.message, missing)
    return snap


def _innodb_tables(table_rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The InnoDB base tables among the rows of tables.sql (in its order), whose DATA_FREE and options the
    maintenance area reads: information_schema.TABLES is read once (a second pass opened every table again)."""
    return [r for r in table_rows
            if _text(r["table_type"]).upper() in ("BASE TABLE", "SYSTEM VERSIONED")
            and _text(r["engine"]).lower() == "innodb"]


def _read_activity(session: _Session, now_utc: datetime, ps_on: bool, user: str,
                   notes: list[Note]) -> Activity:
    """The server's threads with their InnoDB transactions; TLS and socket from performance_schema when on.

    INNODB_TRX needs the PROCESS privilege (and PROCESSLIST shows other accounts' threads only with it): without
    it the area stays empty and says which GRANT fills it.
    """
    try:
        rows = session.rows(load_sql("sessions"))
    except pymysql.err.MySQLError as exc:
        enable = f"GRANT PROCESS ON *.* TO {operations.account(user)}"
        reason = f"the server's sessions and transactions are not readable ({_mysql_error_text(exc)})"
        notes.append(Note(area="activity", message=reason, enable=enable))
        return Activity(complete=False, reason=reason, enable=enable)
    kinds: dict[int, str] | None = None
    if ps_on:
        try:
            kinds = {int(r["pid"]): _text(r["connection_type"]) for r in session.rows(load_sql("session_connections"))
                     if r["connection_type"] is not None}
        except pymysql.err.MySQLError:
            kinds = None  # performance_schema not readable: the workload probe notes it with its grant
    return operations.activity(rows, kinds, now_utc)


def _partial_note(partial: set[tuple[str, str]], user: str) -> Note:
    names = sorted(f"{schema}.{table}" for schema, table in partial)
    who = "<audit user>"
    if "@" in user:
        name, host = user.rsplit("@", 1)
        who = f"'{name}'@'{host}'"
    grants = " ".join(f"GRANT SELECT ON {quote_ident(s)}.{quote_ident(t)} TO {who};" for s, t in sorted(partial)[:5])
    return Note(
        area="privileges",
        message=f"{len(names)} table(s) are visible to this account through column-level privileges only: their "
                "other columns, and the keys and indexes built on them, are hidden, so no check judged these "
                "tables (a primary key on a hidden column would read as missing)",
        objects=tuple(names),
        enable=grants + (" ..." if len(partial) > 5 else ""),
    )


def _mysql_error_text(exc: pymysql.err.MySQLError) -> str:
    if len(exc.args) > 1:
        return f"error {exc.args[0]}: {' '.join(str(exc.args[1]).split())}"
    return " ".join(str(exc).split())


def _with_table_stats(
    tables: list[Table], usage_rows: Sequence[Mapping[str, Any]], missing_is_zero: bool
) -> list[Table]:
    """Table activity from performance_schema, summed over the table's rows.

    performance_schema counts rows, not scans: ``seq_tup_read`` gets the rows read by full table scans (the
    INDEX_NAME NULL row) and ``idx_tup_fetch`` the rows read through indexes; ``seq_scan`` and ``idx_scan``
    stay None, since no scan count exists (and dbaudit's own sampling reads rows too).
    """
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for r in usage_rows:
        key = (_text(r["schema_name"]), _text(r["table_name"]))
        acc = sums.setdefault(key, {"seq": 0, "idx": 0, "ins": 0, "upd": 0, "del": 0})
        if r["index_name"] is None:
            acc["seq"] += int(r["count_read"] or 0)
        else:
            acc["idx"] += int(r["count_read"] or 0)
        acc["ins"] += int(r["count_insert"] or 0)
        acc["upd"] += int(r["count_update"] or 0)
        acc["del"] += int(r["count_delete"] or 0)
    out = []
    for t in tables:
        acc_or_none = sums.get(t.key)
        if acc_or_none is None and (not missing_is_zero or t.kind != "table"):
            out.append(t)
            continue
        acc = acc_or_none or {"seq": 0, "idx": 0, "ins": 0, "upd": 0, "del": 0}
        stats = TableStats(
            seq_tup_read=acc["seq"], idx_tup_fetch=acc["idx"],
            n_tup_ins=acc["ins"], n_tup_upd=acc["upd"], n_tup_del=acc["del"],
        )
        out.append(replace(t, stats=stats))
    return out


def fk_backing_indexes(indexes: Sequence[Index], constraints: Sequence[Constraint]) -> set[tuple[str, str, str]]:
    """The (schema, table, name) of the index InnoDB relies on per foreign key side, unless a primary key or
    unique index serves it (``Index.supports_fk``).

    InnoDB needs an index whose leading columns are the foreign key's columns in the same order, on the child
    and on the parent, and refuses to drop the last one (error 1553). When several plain indexes qualify, the
    narrowest is marked: a wider one that leads with the same columns serves the key as well, so it stays free
    to be judged unused, and the narrow one can still be judged redundant to it.
    """
    # only a B-tree serves a foreign key: the others are not looked at
    btrees_of: dict[tuple[str, str], list[Index]] = {}
    for ix in indexes:
        if ix.method == "btree":
            btrees_of.setdefault((ix.schema, ix.table), []).append(ix)
    marked: set[tuple[str, str, str]] = set()
    for fk in constraints:
        if fk.type != "foreign_key":
            continue
        sides = [((fk.schema, fk.table), fk.columns)]
        if fk.ref_table is not None:
            sides.append(((fk.ref_schema or fk.schema, fk.ref_table), fk.ref_columns))
        for table_key, columns in sides:
            n = len(columns)
            wanted = tuple(columns)
            serving = [ix for ix in btrees_of.get(table_key, ()) if ix.columns[:n] == wanted]
            if not serving or any(ix.is_primary or ix.is_unique for ix in serving):
                continue
            keep = min(serving, key=lambda ix: (len(ix.keys), ix.name))
            marked.add((keep.schema, keep.table, keep.name))
    return marked


def _with_increment(seq: SequenceInfo, increment: int) -> SequenceInfo:
    return replace(seq, increment=increment)


# ------------------------------------------------------------------------------------------------------------
# Building the snapshot from rows
# ------------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if type(value) is str:  # the common case first: some 500,000 values for a 10,000-table schema
        return value
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _epoch(value: Any) -> datetime | None:
    """Epoch seconds (UNIX_TIMESTAMP, so the server's time zone does not matter) as a UTC datetime."""
    if value is None:
        return None
    seconds = float(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def integer_max(column_type: str) -> int | None:
    """Largest value of an integer column type ('int(10) unsigned' -> 4294967295); None for other types."""
    words = column_type.lower().replace("(", " (").split()
    if not words or words[0] not in _INTEGER_MAX:
        return None
    signed_max, unsigned_max = _INTEGER_MAX[words[0]]
    return unsigned_max if "unsigned" in words else signed_max


def _column_default(raw: Any, flavor_quoted_null: bool = True) -> str | None:
    if raw is None:
        return None
    text = _text(raw)
    # MariaDB 10.2.7+ prints defaults as SQL expressions, and DEFAULT NULL as the word NULL
    if flavor_quoted_null and text == "NULL":
        return None
    return text


def _position(column: Column) -> int:
    return column.position


def _column(r: Mapping[str, Any]) -> Column:
    extra = _text(r["extra"]).lower()
    default = _column_default(r["column_default"])
    generated = _text(r["generation_expression"])
    if generated and ("virtual" in extra or "stored" in extra or "persistent" in extra):
        default = f"GENERATED ALWAYS AS ({generated})"
    return Column(
        name=_text(r["column_name"]),
        data_type=_text(r["column_type"]),
        nullable=_text(r["is_nullable"]).upper() == "YES",
        default=default,
        comment=_text(r["comment"]) or None,
        position=int(r["position"]),
        identity="auto_increment" if "auto_increment" in extra else None,
        collation=_text(r.get("collation_name")) or None,
    )


def _build_tables(
    table_rows: Sequence[Mapping[str, Any]], column_rows: Sequence[Mapping[str, Any]],
    partition_counts: Mapping[tuple[str, str], int] | None = None,
) -> tuple[list[Table], list[SequenceInfo]]:
    columns: dict[tuple[str, str], list[Column]] = {}
    auto_columns: dict[tuple[str, str], Column] = {}
    # the same column (name, type, position, default...) recurs in many tables of a big schema: one immutable
    # object for all of them (fewer objects to build and hold)
    shared: dict[tuple[Any, ...], Column] = {}
    for r in column_rows:
        key = (_text(r["schema_name"]), _text(r["table_name"]))
        spec = (r["column_name"], r["column_type"], r["is_nullable"], r["column_default"], r["comment"],
                r["position"], r["extra"], r["generation_expression"], r.get("collation_name"))
        col = shared.get(spec)
        if col is None:
            col = shared[spec] = _column(r)
        table_columns = columns.get(key)
        if table_columns is None:
            columns[key] = [col]
        else:
            table_columns.append(col)
        identity = col.identity
        if identity:
            auto_columns[key] = col
    tables: list[Table] = []
    sequences: list[SequenceInfo] = []
    for r in table_rows:
        schema, name = _text(r["schema_name"]), _text(r["table_name"])
        table_type = _text(r["table_type"]).upper()
        if table_type in ("BASE TABLE", "SYSTEM VERSIONED"):
            kind = "table"
        elif table_type == "VIEW":
            kind = "view"
        else:  # SEQUENCE (MariaDB), SYSTEM VIEW, TEMPORARY: not audited as tables
            continue
        data, index = _opt_int(r["table_bytes"]), _opt_int(r["index_bytes"])
        total = None if data is None and index is None else (data or 0) + (index or 0)
        comment = _text(r["comment"])
        if kind == "view" and comment.upper() == "VIEW":
            comment = ""  # MySQL puts the word VIEW in TABLE_COMMENT of every view
        tables.append(Table(
            schema=schema,
            name=name,
            kind=kind,
            estimated_rows=_opt_int(r["estimated_rows"]) if kind == "table" else None,
            total_bytes=total if kind == "table" else None,
            table_bytes=data if kind == "table" else None,
            index_bytes=index if kind == "table" else None,
            comment=comment or None,
            engine=_text(r["engine"]) or None,
            partitioned="partitioned" in _text(r["create_options"]).lower(),
            partition_count=(partition_counts or {}).get((schema, name), 0),
            altered_at=_epoch(r.get("altered_epoch")) if kind == "table" else None,
            # columns.sql leaves the order to the client (the server's sort of 73,000 rows: 0.13 s of its CPU)
            columns=tuple(sorted(columns.get((schema, name), ()), key=_position)),
        ))
        auto = auto_columns.get((schema, name))
        if auto is not None and kind == "table":
            counter = _opt_int(r["auto_increment"])
            sequences.append(SequenceInfo(
                schema=schema,
                name=name,
                data_type=auto.data_type,
                start_value=1,
                increment=1,
                min_value=1,
                max_value=integer_max(auto.data_type),
                # AUTO_INCREMENT is the next value to hand out; None when the engine keeps no counter
                last_value=None if counter is None else counter - 1,
                feeds=(ColumnRef(schema, name, auto.name, auto.data_type),),
                kind="auto_increment",
            ))
    return tables, sequences


def _rule(value: Any) -> str | None:
    text = _text(value)
    return text.lower() if text else None


def _build_constraints(
    rows: Sequence[Mapping[str, Any]], check_rows: Sequence[Mapping[str, Any]]
) -> list[Constraint]:
    grouped: dict[tuple[str, str, str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        key = (_text(r["schema_name"]), _text(r["table_name"]), _text(r["constraint_name"]),
               _text(r["constraint_type"]))
        grouped.setdefault(key, []).append(r)
    out: list[Constraint] = []
    for (schema, table, name, ctype), parts in grouped.items():
        parts = sorted(parts, key=lambda p: int(p["position"]))
        kind = _CONSTRAINT_TYPES[ctype]
        cols = tuple(_text(p["column_name"]) for p in parts)
        col_list = ", ".join(quote_ident(c) for c in cols)
        if kind == "foreign_key":
            first = parts[0]
            ref_schema, ref_table = _text(first["ref_schema"]), _text(first["ref_table"])
            ref_cols = tuple(_text(p["ref_column"]) for p in parts)
            on_update, on_delete = _rule(first["update_rule"]), _rule(first["delete_rule"])
            definition = (
                f"FOREIGN KEY ({col_list}) REFERENCES {quote_ident(ref_schema)}.{quote_ident(ref_table)} "
                f"({', '.join(quote_ident(c) for c in ref_cols)})"
            )
            # the actions are None when REFERENTIAL_CONSTRAINTS hides the row: print none rather than guess
            if on_delete is not None:
                definition += f" ON DELETE {on_delete.upper()}"
            if on_update is not None:
                definition += f" ON UPDATE {on_update.upper()}"
            out.append(Constraint(
                schema=schema, table=table, name=name, type=kind, columns=cols, definition=definition,
                validated=True, ref_schema=ref_schema, ref_table=ref_table, ref_columns=ref_cols,
                on_update=on_update, on_delete=on_delete, match_type="simple",
            ))
        else:
            definition = ("PRIMARY KEY" if kind == "primary_key" else "UNIQUE") + f" ({col_list})"
            # in MySQL a primary key or unique constraint is its index, under the same name
            out.append(Constraint(schema=schema, table=table, name=name, type=kind, columns=cols,
                                  definition=definition, validated=True, index=name))
    for r in check_rows:
        level = _text(r["level"]).lower()
        name = _text(r["constraint_name"])
        out.append(Constraint(
            schema=_text(r["schema_name"]), table=_text(r["table_name"]), name=name, type="check",
            columns=(name,) if level == "column" else (),
            definition=f"CHECK ({_text(r['check_clause'])})", validated=True,
        ))
    return out


def constraint_notes(constraints: Sequence[Constraint], index_rows: Sequence[Mapping[str, Any]]) -> list[Note]:
    """Notes for what information_schema hid from this account about keys.

    A primary key or unique index that STATISTICS shows but KEY_COLUMN_USAGE did not return means keys are
    missing from the snapshot; foreign keys without their ON DELETE / ON UPDATE actions mean
    REFERENTIAL_CONSTRAINTS returned nothing for them (MariaDB shows it only with a privilege beyond SELECT).
    """
    notes: list[Note] = []
    known = {(c.schema, c.table, c.name) for c in constraints if c.type in ("primary_key", "unique")}
    missing = sorted({
        f"{_text(r['schema_name'])}.{_text(r['table_name'])}.{_text(r['index_name'])}"
        for r in index_rows
        if int(r["non_unique"]) == 0
        and (_text(r["schema_name"]), _text(r["table_name"]), _text(r["index_name"])) not in known
    })
    if missing:
        notes.append(Note(
            area="privileges",
            message=f"{len(missing)} primary key or unique index(es) are not listed in "
                    "information_schema.KEY_COLUMN_USAGE for this account: key checks may miss them",
            objects=tuple(missing[:20]),
            enable="GRANT REFERENCES ON <database>.* TO <audit user>",
        ))
    hidden = sorted(
        f"{c.schema}.{c.table}.{c.name}" for c in constraints if c.type == "foreign_key" and c.on_delete is None
    )
    if hidden:
        notes.append(Note(
            area="privileges",
            message=f"ON DELETE / ON UPDATE actions of {len(hidden)} foreign key(s) unknown: "
                    "information_schema.REFERENTIAL_CONSTRAINTS returns no rows for this account",
            objects=tuple(hidden[:20]),
            enable="GRANT REFERENCES ON <database>.* TO <audit user>",
        ))
    return notes


def _base_table_name(name: str) -> str:
    # partitions of a table appear in innodb_index_stats as t#P#p0 (MariaDB) or t#p#p0 (MySQL 8)
    low = name.lower()
    cut = low.find("#p#")
    return name if cut < 0 else name[:cut]


def _build_indexes(
    rows: Sequence[Mapping[str, Any]],
    constraints: Sequence[Constraint],
    size_rows: Sequence[Mapping[str, Any]],
    page_size: int,
    usage_rows: Sequence[Mapping[str, Any]] | None,
    missing_is_zero: bool,
    uncounted: frozenset[tuple[str, str]] = frozenset(),
) -> list[Index]:
    pages: dict[tuple[str, str, str], int] = {}
    for r in size_rows:
        key = (_text(r["schema_name"]), _base_table_name(_text(r["table_name"])), _text(r["index_name"]))
        if r["pages"] is not None:
            pages[key] = pages.get(key, 0) + int(r["pages"])
    usage: dict[tuple[str, str, str], tuple[int, int]] = {}
    for r in usage_rows or ():
        if r["index_name"] is None:
            continue
        key = (_text(r["schema_name"]), _text(r["table_name"]), _text(r["index_name"]))
        usage[key] = (int(r["count_read"] or 0), int(r["count_fetch"] or 0))
    backing = {(c.schema, c.table, c.name): c for c in constraints if c.type in ("primary_key", "unique")}

    grouped: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    parts: list[Mapping[str, Any]] = []
    last: tuple[Any, ...] | None = None
    for r in rows:
        raw = (r["schema_name"], r["table_name"], r["index_name"])
        if raw != last:  # the file sends an index's rows together: its group is looked up once for them
            last = raw
            key = (_text(raw[0]), _text(raw[1]), _text(raw[2]))
            found = grouped.get(key)
            if found is None:
                found = grouped[key] = []
            parts = found
        parts.append(r)
    # the same key (column, ordering, prefix) recurs in many indexes: one immutable object for all of them
    shared_keys: dict[tuple[Any, ...], IndexKey] = {}
    specs: list[tuple[Any, ...]] = []
    out: list[Index] = []
    for (schema, table, name), parts in grouped.items():
        if len(parts) > 1:
            parts.sort(key=_seq_in_index)
        first = parts[0]
        keys_list: list[IndexKey] = []
        for p in parts:
            key_spec = (p["column_name"], p["collation"], p["expression"], p["sub_part"])
            index_key = shared_keys.get(key_spec)
            if index_key is None:
                index_key = shared_keys[key_spec] = _index_key(p)
            keys_list.append(index_key)
        keys = tuple(keys_list)
        method = _text(first["index_type"]).lower() or "btree"
        is_primary = name == "PRIMARY"
        is_unique = int(first["non_unique"]) == 0
        cons = backing.get((schema, table, name))
        constraint_type = "primary_key" if is_primary else ("unique" if is_unique else None)
        scans = read = fetched = None
        if usage_rows is not None and (schema, table) not in uncounted:
            hit = usage.get((schema, table, name))
            if hit is not None:
                read, fetched = hit
            elif missing_is_zero:
                # performance_schema keeps a row only for tables opened since the server started
                read, fetched = 0, 0
            scans = read
        size = pages.get((schema, table, name))
        spec: tuple[Any, ...] = (  # INDEX_FIELDS' order, but for supports_fk (last, set below)
            schema, table, name, keys, (), method, is_unique, is_primary, None, True, True,
            cons.name if cons else (name if constraint_type else None), constraint_type,
            _index_definition(schema, table, name, keys, method, is_unique, is_primary),
            None if size is None else size * page_size, scans, read, fetched,
            _text(first["is_visible"]).upper() != "NO", False, None)
        specs.append(spec)
        out.append(Index(*spec))
    marked = fk_backing_indexes(out, constraints)
    if not marked:
        return out
    # the marked ones made again with the flag, supports_fk, last (dataclasses.replace took 0.25 s for 13,000)
    return [Index(*(*made, True)) if (ix.schema, ix.table, ix.name) in marked else ix
            for made, ix in zip(specs, out, strict=True)]


def _seq_in_index(row: Mapping[str, Any]) -> int:
    return int(row["seq_in_index"])


# the indexes are given their fields by position, in this order (checked at import)
INDEX_FIELDS = leading_fields(Index, "schema", "table", "name", "keys", "include", "method", "is_unique", "is_primary",
                              "predicate", "is_valid", "is_ready", "constraint", "constraint_type", "definition",
                              "size_bytes", "scans", "tuples_read", "tuples_fetched", "visible",
                              "is_partition_child", "parent_index", "supports_fk")


def _index_key(row: Mapping[str, Any]) -> IndexKey:
    column = _text(row["column_name"]) or None
    descending = _text(row["collation"]).upper() == "D"
    expression = _text(row["expression"]) or None
    sub_part = _opt_int(row["sub_part"])
    if column is not None and sub_part is not None:
        # a prefix key is not the column (Index.columns leaves it out), but IX03 compares it with one
        return IndexKey(column=column, prefix_length=sub_part, descending=descending)
    if column is None:
        return IndexKey(column=None, expression=expression or "?", descending=descending)
    return IndexKey(column=column, descending=descending)


def _key_sql(key: IndexKey) -> str:
    if key.column is not None:
        text = quote_ident(key.column)
        if key.prefix_length is not None:
            text += f"({key.prefix_length})"
    elif key.expression is not None and re.fullmatch(r"`(?:[^`]|``)+`\(\d+\)", key.expression):
        text = key.expression  # a prefix key of a snapshot written before prefix_length existed
    else:
        text = f"({key.expression})"
    return text + (" DESC" if key.descending else "")


def _index_definition(
    schema: str, table: str, name: str, keys: tuple[IndexKey, ...], method: str, unique: bool, primary: bool
) -> str:
    target = f"{quote_ident(schema)}.{quote_ident(table)}"
    key_list = ", ".join(_key_sql(k) for k in keys)
    if primary:
        return f"ALTER TABLE {target} ADD PRIMARY KEY ({key_list})"
    kind = {"fulltext": "FULLTEXT ", "spatial": "SPATIAL "}.get(method, "UNIQUE " if unique else "")
    using = f" USING {method.upper()}" if method in ("btree", "hash") else ""
    return f"CREATE {kind}INDEX {quote_ident(name)} ON {target} ({key_list}){using}"
