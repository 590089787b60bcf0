"""The posture areas of a PostgreSQL collection: settings, roles, authentication rules, privileges, counters.

Each area is one bulk catalog query in the connector's read-only transaction (see :mod:`auditor.posture` for what
they hold). What the audit role may not read is not asked for: pg_hba_file_rules and pg_authid are readable by
superusers only, so those queries run only when the server says they may, and a Note with the area's name says
what was left out and how to lift the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from auditor.connectors.postgres.session import TupleRows, as_tuples
from auditor.model import Note
from auditor.posture import (
    FUNCTIONS_AREA,
    HBA_AREA,
    IO_AREA,
    PASSWORDS_AREA,
    ROLE_SETTINGS_AREA,
    ROLES_AREA,
    SCHEMA_PRIVILEGES_AREA,
    SERVER_STATS_AREA,
    SETTINGS_AREA,
    CheckpointStats,
    DatabaseStats,
    DefinerFunction,
    HbaRule,
    Posture,
    RelationIo,
    Role,
    RoleSetting,
    SchemaPrivileges,
    ServerSetting,
)
from auditor.sqlquote import pg_ident

# Settings the settings checks and the report read, beyond the prefixes server_settings.sql takes whole
# (autovacuum*, enable_*, vacuum_cost_*, checkpoint_*, track_*).
POSTURE_SETTINGS = (
    "fsync", "full_page_writes", "synchronous_commit", "wal_sync_method", "data_checksums", "wal_level",
    "max_wal_size", "min_wal_size", "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem",
    "autovacuum_work_mem", "huge_pages", "max_connections", "superuser_reserved_connections",
    "reserved_connections", "statement_timeout", "idle_in_transaction_session_timeout", "lock_timeout",
    "idle_session_timeout", "transaction_timeout", "random_page_cost", "seq_page_cost",
    "effective_io_concurrency", "default_statistics_target", "ssl", "ssl_min_protocol_version",
    "password_encryption", "listen_addresses", "log_min_duration_statement", "log_lock_waits", "log_temp_files",
    "log_autovacuum_min_duration", "jit", "max_parallel_workers_per_gather", "block_size", "max_worker_processes",
    "vacuum_failsafe_age", "vacuum_multixact_failsafe_age", "vacuum_freeze_min_age", "vacuum_freeze_table_age",
)

AreaReader = Callable[[str, Mapping[str, Any]], "list[dict[str, Any]] | None"]


def hba_enable(role: str, database: str) -> str:
    grantee = pg_ident(role) if role else "<role>"
    # catalog views and functions are objects of each database: the grant holds where it is run
    return (f"GRANT SELECT ON pg_catalog.pg_hba_file_rules TO {grantee}; "
            f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_hba_file_rules() TO {grantee} "
            f"(as a superuser, in database {database}), or run dbaudit as a superuser")


PASSWORDS_ENABLE = ("run dbaudit as a superuser: pg_authid, which holds the password hashes, is readable by "
                    "superusers only (dbaudit reads the kind of each hash, never the hash)")


def collect_posture(read: AreaReader, server: Mapping[str, Any], schemas: list[str], notes: list[Note]) -> Posture:
    """The posture areas through ``read`` (the connector's guarded area query); notes go to ``notes``."""
    role = str(server.get("role") or "")
    scope = {"schemas": schemas}

    settings_rows = read(SETTINGS_AREA, {"settings": list(POSTURE_SETTINGS)})
    role_setting_rows = read(ROLE_SETTINGS_AREA, {})
    if server.get("can_read_authid"):
        role_rows = read("roles_passwords", {})
        passwords_known = role_rows is not None
    else:
        role_rows = read(ROLES_AREA, {})
        passwords_known = False
        notes.append(Note(area=PASSWORDS_AREA,
                          message="the kind of each role's password (md5 or SCRAM) is unknown: pg_authid is "
                                  "readable by superusers only",
                          enable=PASSWORDS_ENABLE))
    hba_rows: list[dict[str, Any]] | None = None
    if server.get("can_read_hba"):
        hba_rows = read(HBA_AREA, {})
    else:
        notes.append(Note(area=HBA_AREA,
                          message="the authentication rules of pg_hba.conf were not read: pg_hba_file_rules is "
                                  "readable by superusers only",
                          enable=hba_enable(role, str(server.get("database") or ""))))
    schema_rows = read(SCHEMA_PRIVILEGES_AREA, scope)
    function_rows = read(FUNCTIONS_AREA, scope)
    stats_rows = read(SERVER_STATS_AREA, {})
    io_rows = read(IO_AREA, scope)

    stats = stats_rows[0] if stats_rows else None
    return Posture(
        login=role,
        settings=None if settings_rows is None else tuple(_setting(r) for r in settings_rows),
        role_settings=None if role_setting_rows is None else tuple(_role_setting(r) for r in role_setting_rows),
        roles=None if role_rows is None else tuple(_role(r) for r in role_rows),
        passwords_known=passwords_known,
        hba_rules=None if hba_rows is None else tuple(_hba(r) for r in hba_rows),
        schema_privileges=None if schema_rows is None else tuple(_schema(r) for r in schema_rows),
        definer_functions=None if function_rows is None else tuple(_function(r) for r in function_rows),
        database_stats=None if stats is None else _database_stats(stats),
        checkpoints=None if stats is None else _checkpoints(stats),
        io=None if io_rows is None else _io(as_tuples(io_rows)),
    )


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _setting(r: Mapping[str, Any]) -> ServerSetting:
    return ServerSetting(name=str(r["name"]), value=str(r["value"] if r["value"] is not None else ""),
                         unit=r["unit"], boot_value=r["boot_value"], source=r["source"], context=r["context"],
                         pending_restart=bool(r["pending_restart"]))


def _config(entries: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries or ():
        name, _, value = str(entry).partition("=")
        out[name] = value
    return out


def _role_setting(r: Mapping[str, Any]) -> RoleSetting:
    return RoleSetting(role=r["role"], database=r["database"], settings=_config(r["settings"]))


def _role(r: Mapping[str, Any]) -> Role:
    return Role(
        name=str(r["name"]), login=bool(r["login"]), superuser=bool(r["superuser"]),
        replication=bool(r["replication"]), bypass_rls=bool(r["bypass_rls"]), create_role=bool(r["create_role"]),
        create_db=bool(r["create_db"]), member_of=tuple(r["member_of"] or ()), password=r["password"],
        valid_until=r["valid_until"], connect=r["connect"],
    )


def _hba(r: Mapping[str, Any]) -> HbaRule:
    return HbaRule(
        line=int(r["line"]), type=str(r["type"] or ""), databases=tuple(r["databases"] or ()),
        users=tuple(r["users"] or ()), address=r["address"], netmask=r["netmask"], method=str(r["method"] or ""),
        options=tuple(r["options"] or ()), error=r["error"], file=r["file"],
    )


def _schema(r: Mapping[str, Any]) -> SchemaPrivileges:
    return SchemaPrivileges(schema=str(r["schema"]), owner=str(r["owner"]), public_create=bool(r["public_create"]),
                            public_usage=bool(r["public_usage"]), create_grantees=tuple(r["create_grantees"] or ()))


def _function(r: Mapping[str, Any]) -> DefinerFunction:
    return DefinerFunction(
        schema=str(r["schema"]), name=str(r["name"]), arguments=str(r["arguments"] or ""), kind=str(r["kind"]),
        owner=str(r["owner"]), owner_superuser=bool(r["owner_superuser"]), language=str(r["language"]),
        config=tuple(str(c) for c in r["config"] or ()), public_execute=bool(r["public_execute"]),
    )


def _database_stats(r: Mapping[str, Any]) -> DatabaseStats:
    return DatabaseStats(
        blks_read=_int(r["blks_read"]), blks_hit=_int(r["blks_hit"]), temp_files=_int(r["temp_files"]),
        temp_bytes=_int(r["temp_bytes"]), deadlocks=_int(r["deadlocks"]), conflicts=_int(r["conflicts"]),
        xact_commit=_int(r["xact_commit"]), xact_rollback=_int(r["xact_rollback"]),
        numbackends=_int(r["numbackends"]), stats_reset=r["stats_reset"], size_bytes=_int(r["size_bytes"]),
    )


def _checkpoints(r: Mapping[str, Any]) -> CheckpointStats:
    return CheckpointStats(
        source=str(r["checkpoint_source"]), timed=_int(r["checkpoints_timed"]),
        requested=_int(r["checkpoints_requested"]), buffers_written=_int(r["checkpoint_buffers"]),
        write_ms=None if r["checkpoint_write_ms"] is None else float(r["checkpoint_write_ms"]),
        sync_ms=None if r["checkpoint_sync_ms"] is None else float(r["checkpoint_sync_ms"]),
        stats_reset=r["checkpoint_stats_reset"],
    )


def _io(rows: TupleRows) -> tuple[RelationIo, ...]:
    fields = rows.fields("schema", "table", "index", "blks_read", "blks_hit", "toast_blks_read", "toast_blks_hit")
    return tuple(RelationIo(*r) for r in map(fields, rows))  # RelationIo's fields, in order
