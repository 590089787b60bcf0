"""The server's configuration and security posture in the snapshot: what the settings and security checks read.

These frozen dataclasses hang off :attr:`auditor.model.Snapshot.posture` and round-trip through its JSON like the
rest. Each area is read by one bulk catalog query whatever the size of the schema. An area the audit role may not
read is None (never empty): the connector leaves a :class:`~auditor.model.Note` with the same ``area`` saying why
and which GRANT would lift the limit, and the checks that need the area are skipped with that GRANT.

Nothing here ever holds a password or a password hash: the connectors compute the *kind* of a stored password
(``md5``, ``scram-sha-256``, ``empty``) in SQL and fetch only that word.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from auditor.bulk import cached, direct_init

# Areas of the posture, as Note.area values: a check that needs one is skipped with that note's GRANT.
SETTINGS_AREA = "server_settings"
ROLE_SETTINGS_AREA = "role_settings"
ROLES_AREA = "roles"
PASSWORDS_AREA = "passwords"
HBA_AREA = "hba_rules"
SCHEMA_PRIVILEGES_AREA = "schema_privileges"
FUNCTIONS_AREA = "definer_functions"
SERVER_STATS_AREA = "server_stats"
IO_AREA = "io"
STATUS_AREA = "status"
USER_STATEMENTS_AREA = "user_statements"
ACCOUNT_LOCKS_AREA = "account_locks"  # MariaDB 10.4+: ACCOUNT LOCK, in mysql.global_priv
ROLE_GRANTS_AREA = "role_grants"  # MariaDB: the roles granted to accounts and roles (mysql.roles_mapping)

# pg_settings units and the bytes or milliseconds one unit holds
_BYTE_UNITS = {"B": 1, "kB": 1024, "8kB": 8192, "16kB": 16384, "32kB": 32768, "MB": 1024**2, "GB": 1024**3,
               "TB": 1024**4}
_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@functools.lru_cache(maxsize=1024)  # the maintenance checks read the same settings for every table
@functools.lru_cache(maxsize=4096)  # a few hundred settings, read for every table (MT06, MT08: autovacuum's)
def _number(value: str) -> float | None:
    return float(value) if _NUMBER.match(value.strip()) else None


@dataclass(frozen=True)
class ServerSetting:
    """One PostgreSQL setting as new sessions get it (pg_settings), with what the remediation needs to know.

    ``value`` is ``reset_val``: the value a new session of the audit role starts with, which is the server's
    value unless that role or database has its own (see :class:`RoleSetting`), and never dbaudit's own
    ``SET LOCAL`` of its timeouts. It is in ``unit`` (``shared_buffers`` 16384 with unit ``8kB``).
    """

    name: str
    value: str
    unit: str | None = None
    boot_value: str | None = None  # the built-in default (boot_val)
    source: str | None = None  # "default", "configuration file", "command line", "override", ...
    context: str | None = None  # "postmaster" (restart), "sighup" (reload), "superuser", "user", ...
    pending_restart: bool = False

    def number(self) -> float | None:
        return _number(self.value)

    def bytes(self) -> int | None:
        """The value in bytes for a memory setting (None when it has no byte unit or is not a number)."""
        n = self.number()
        if n is None or self.unit not in _BYTE_UNITS:
            return None
        return int(n * _BYTE_UNITS[self.unit])

    def millis(self) -> float | None:
        """The value in milliseconds for a time setting."""
        n = self.number()
        if n is None or self.unit not in _TIME_UNITS:
            return None
        return n * _TIME_UNITS[self.unit]

    @property
    def is_default(self) -> bool:
        """The built-in default, whatever the source (a configuration file may spell the default out)."""
        return self.boot_value is not None and self.value == self.boot_value

    @property
    def needs_restart(self) -> bool:
        return self.context == "postmaster"


@dataclass(frozen=True)
class RoleSetting:
    """Settings stored for a role, a database, or a role in a database (pg_db_role_setting).

    ``role`` None: every role (``ALTER DATABASE ... SET``); ``database`` None: every database
    (``ALTER ROLE ... SET``).
    """

    role: str | None
    database: str | None
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Role:
    """A PostgreSQL role, or a MySQL/MariaDB account (``name``@``host``).

    ``password`` is the kind of the stored password, never the password: ``"none"`` (no password set),
    ``"md5"``, ``"scram-sha-256"``, ``"plain"`` (stored unencrypted, PostgreSQL before 10) or ``"other"`` on
    PostgreSQL; ``"empty"`` or ``"set"`` on MySQL/MariaDB. None: not readable (pg_authid is superuser-only).
    """

    name: str
    host: str | None = None  # MySQL/MariaDB account host pattern
    login: bool = True
    superuser: bool = False  # PostgreSQL rolsuper
    replication: bool = False
    bypass_rls: bool = False
    create_role: bool = False
    create_db: bool = False
    # PostgreSQL predefined roles it is a member of, directly or not (pg_read_all_data, pg_monitor, ...)
    member_of: tuple[str, ...] = ()
    password: str | None = None
    valid_until: datetime | None = None
    connect: bool | None = None  # PostgreSQL: may connect to the audited database
    # MySQL/MariaDB
    plugin: str | None = None  # authentication plugin ("" is the server's default, mysql_native_password)
    locked: bool = False  # account locked, or its password expired (it cannot run statements)
    is_role: bool = False  # a MariaDB role, not an account
    global_privileges: tuple[str, ...] = ()  # static privileges held on *.* ("SELECT", "SUPER", ...)
    grant_option: bool = False  # GRANT OPTION on *.*
    all_privileges: bool = False  # every static privilege on *.* (ALL PRIVILEGES)
    # MariaDB roles: the account's default role (mysql.user.default_role, active from login), and the roles
    # granted to this account or role (mysql.roles_mapping; empty when that was not readable)
    default_role: str | None = None
    granted_roles: tuple[str, ...] = ()

    @property
    def account(self) -> str:
        """``name`` for PostgreSQL, ``'name'@'host'`` for MySQL/MariaDB (as SQL writes it)."""
        if self.host is None:
            return self.name
        return f"'{self.name}'@'{self.host}'"


@dataclass(frozen=True)
class HbaRule:
    """One rule of pg_hba.conf as the server parsed it (pg_hba_file_rules)."""

    line: int
    type: str  # local, host, hostssl, hostnossl, hostgssenc, hostnogssenc
    databases: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    address: str | None = None
    netmask: str | None = None
    method: str = ""  # trust, reject, scram-sha-256, md5, password, peer, ident, cert, ...
    options: tuple[str, ...] = ()
    error: str | None = None  # a line the server could not parse (then the rest is empty)
    file: str | None = None  # PostgreSQL 16+: the file the rule comes from (include directives)


@dataclass(frozen=True)
class SchemaPrivileges:
    """Who may create objects in an audited schema (pg_namespace.nspacl, defaults resolved)."""

    schema: str
    owner: str
    public_create: bool = False  # CREATE granted to PUBLIC
    public_usage: bool = False
    create_grantees: tuple[str, ...] = ()  # named roles with CREATE, the owner aside


@direct_init
@dataclass(frozen=True)
class DefinerFunction:
    """A SECURITY DEFINER function or procedure of an audited schema (extension members aside)."""

    schema: str
    name: str
    arguments: str = ""  # identity arguments, as pg_get_function_identity_arguments prints them
    kind: str = "function"  # function, procedure, aggregate, window
    owner: str = ""
    owner_superuser: bool = False
    language: str = ""
    config: tuple[str, ...] = ()  # proconfig: "search_path=app, pg_temp", ...
    public_execute: bool = False  # EXECUTE granted to PUBLIC (the default for functions)

    @property
    def search_path(self) -> str | None:
        for entry in self.config:
            name, _, value = entry.partition("=")
            if name.strip().lower() == "search_path":
                return value
        return None


@dataclass(frozen=True)
class DatabaseStats:
    """pg_stat_database of the audited database (cumulative since ``stats_reset``)."""

    blks_read: int | None = None
    blks_hit: int | None = None
    temp_files: int | None = None
    temp_bytes: int | None = None
    deadlocks: int | None = None
    conflicts: int | None = None
    xact_commit: int | None = None
    xact_rollback: int | None = None
    numbackends: int | None = None
    stats_reset: datetime | None = None
    size_bytes: int | None = None  # pg_database_size


@dataclass(frozen=True)
class CheckpointStats:
    """Checkpoint counters: pg_stat_bgwriter up to PostgreSQL 16, pg_stat_checkpointer from 17."""

    source: str  # "pg_stat_bgwriter" or "pg_stat_checkpointer"
    timed: int | None = None
    requested: int | None = None
    buffers_written: int | None = None
    write_ms: float | None = None
    sync_ms: float | None = None
    stats_reset: datetime | None = None


@direct_init
@dataclass(frozen=True)
class RelationIo:
    """Buffer hits and reads of one table or index (pg_statio_user_tables / pg_statio_user_indexes)."""

    schema: str
    table: str
    index: str | None = None  # None: the table's heap (with its TOAST)
    blks_read: int = 0
    blks_hit: int = 0
    toast_blks_read: int = 0
    toast_blks_hit: int = 0


@dataclass(frozen=True)
class UserStatements:
    """Statements one MySQL/MariaDB user ran since the server started (performance_schema, by event name)."""

    user: str
    dml: int = 0  # SELECT, INSERT, UPDATE, DELETE, REPLACE, LOAD DATA
    other: int = 0  # everything else (DDL, SHOW, SET, administration)


@dataclass(frozen=True)
class Posture:
    """Settings, counters and security facts of the server. A None area was not readable (see the notes)."""

    login: str = ""  # the audit role (PostgreSQL) or account 'user'@'host' (MySQL), for the GRANT in a skip
    settings: tuple[ServerSetting, ...] | None = None  # PostgreSQL
    role_settings: tuple[RoleSetting, ...] | None = None  # PostgreSQL
    roles: tuple[Role, ...] | None = None
    passwords_known: bool = False  # Role.password was readable (pg_authid, mysql.user)
    hba_rules: tuple[HbaRule, ...] | None = None  # PostgreSQL
    schema_privileges: tuple[SchemaPrivileges, ...] | None = None  # PostgreSQL
    definer_functions: tuple[DefinerFunction, ...] | None = None  # PostgreSQL
    database_stats: DatabaseStats | None = None  # PostgreSQL
    checkpoints: CheckpointStats | None = None  # PostgreSQL
    io: tuple[RelationIo, ...] | None = None  # PostgreSQL
    status: Mapping[str, str] | None = None  # MySQL/MariaDB SHOW GLOBAL STATUS (the counters the checks read)
    user_statements: tuple[UserStatements, ...] | None = None  # MySQL/MariaDB
    # MySQL/MariaDB: Role.locked is known (False when MariaDB 10.4+'s mysql.global_priv was not readable, so a
    # locked account looks unlocked); Role.granted_roles was read (mysql.roles_mapping)
    account_locks_known: bool = True
    role_grants_known: bool = False

    def active_roles(self, account: Role) -> tuple[Role, ...]:
        """MariaDB: the roles whose privileges an account holds from login: its default role (when it is still
        granted, as far as mysql.roles_mapping tells) and, recursively, the roles granted to that role. Roles
        granted but not default are active only after the session runs SET ROLE: not counted, as MariaDB does."""
        if not account.default_role or account.is_role:
            return ()
        if self.role_grants_known and account.default_role not in account.granted_roles:
            return ()  # revoked since SET DEFAULT ROLE: the server ignores it at login
        by_name = {r.name: r for r in self.roles or () if r.is_role}
        found: list[Role] = []
        pending = [account.default_role]
        while pending:
            role = by_name.get(pending.pop())
            if role is None or role in found:
                continue
            found.append(role)
            pending.extend(role.granted_roles)
        return tuple(found)

    def setting(self, name: str) -> ServerSetting | None:
        return self._settings_by_name.get(name)

    @property
    def io_by_kind(self) -> tuple[list[RelationIo], list[RelationIo]]:
        """The tables' rows and the indexes' rows of ``io``, each in its order (both empty when not read)."""
        tables, indexes, _sums = self._io_split
        return tables, indexes

    @cached  # a row per table and per index, tens of thousands on a large database: split once (ratios, ST08)
    def _io_split(self) -> tuple[list[RelationIo], list[RelationIo], tuple[int, int, int, int]]:
        """``io_by_kind``, and the tables' blocks hit and read, then the indexes'. One pass: over this many rows,
        reading each once costs less than the passes in C that filter and sum them one attribute at a time."""
        tables: list[RelationIo] = []
        indexes: list[RelationIo] = []
        table_hit = table_read = index_hit = index_read = 0
        for row in self.io or ():
            if row.index is None:
                tables.append(row)
                table_hit += row.blks_hit
                table_read += row.blks_read
            else:
                indexes.append(row)
                index_hit += row.blks_hit
                index_read += row.blks_read
        return tables, indexes, (table_hit, table_read, index_hit, index_read)

    @cached  # some 350 settings, read per table by the maintenance checks: a lookup, not a search
    def _settings_by_name(self) -> dict[str, ServerSetting]:
        out: dict[str, ServerSetting] = {}
        for s in self.settings or ():
            out.setdefault(s.name, s)  # the first of a name, as a search finds it
        return out

    def status_int(self, name: str) -> int | None:
        raw = (self.status or {}).get(name)
        return int(raw) if raw is not None and raw.strip().isdigit() else None


# ------------------------------------------------------------------------------------------------------------
# Cache hit ratios (ST08 and the cache_hit_ratio_pct metric)
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HitRatio:
    """Block (page) requests served from the database's cache, and those read from outside it."""

    kind: str  # "table", "index" (PostgreSQL), "buffer pool" (InnoDB)
    hits: int
    reads: int

    @property
    def requests(self) -> int:
        return self.hits + self.reads

    @property
    def pct(self) -> float | None:
        return 100.0 * self.hits / self.requests if self.requests else None


def hit_ratios(engine: str, posture: Posture | None) -> list[HitRatio]:
    """The cache hit ratios the server's counters give: the audited tables' heap and their indexes on PostgreSQL
    (pg_statio_user_tables / _indexes, summed as PgHero does), the InnoDB buffer pool on MySQL/MariaDB. Empty
    when the counters were not read."""
    if posture is None:
        return []
    if engine == "postgresql":
        if posture.io is None:
            return []
        table_hit, table_read, index_hit, index_read = posture._io_split[2]  # a row per table and per index
        return [HitRatio("table", table_hit, table_read), HitRatio("index", index_hit, index_read)]
    requests = posture.status_int("Innodb_buffer_pool_read_requests")
    reads = posture.status_int("Innodb_buffer_pool_reads")
    if requests is None or reads is None:
        return []
    # read_requests counts every logical page request, the misses among them: hits are the difference
    return [HitRatio("buffer pool", max(0, requests - reads), reads)]
