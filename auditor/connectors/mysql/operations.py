"""Rows of the operational areas (sessions, ...) into their snapshot dataclasses (auditor.operations)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from auditor.operations import LOCAL, LOOPBACK, REMOTE, Activity, Backend, redact_statement

# PROCESSLIST COMMAND values of replication threads (primary side and replica side)
REPLICATION_COMMANDS = frozenset({"Binlog Dump", "Binlog Dump GTID", "Slave_IO", "Slave_SQL", "Slave_worker",
                                  "Register Slave"})
SYSTEM_USERS = frozenset({"system user", "event_scheduler"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def account(user_at_host: str | None) -> str:
    """'app@10.%' (CURRENT_USER()) as the account of a GRANT: 'app'@'10.%'."""
    if not user_at_host or "@" not in user_at_host:
        return "<audit user>"
    name, host = user_at_host.rsplit("@", 1)
    return f"'{name}'@'{host}'"


def _text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return None if value is None else str(value)


def _client(host: str | None, connection_type: str | None) -> tuple[str | None, str | None]:
    """(client kind, client address) from PROCESSLIST.HOST ('localhost' for a socket, 'host:port' for TCP)."""
    if connection_type == "Socket":
        return LOCAL, None
    if not host:
        return None, None
    if ":" not in host or host.startswith("["):
        if host == "localhost" and connection_type in (None, "Socket"):
            return LOCAL, None
        addr = host.strip("[]")
    else:
        addr = host.rsplit(":", 1)[0].strip("[]")
    return (LOOPBACK if addr in _LOOPBACK_HOSTS or addr.startswith("127.") else REMOTE), addr


def _backend_type(user: str | None, command: str | None) -> str:
    if command in REPLICATION_COMMANDS:
        return "replication"
    if user in SYSTEM_USERS or command == "Daemon":
        return "system"
    return "client"


def activity(rows: Iterable[Mapping[str, Any]], connection_types: Mapping[int, str] | None,
             now: datetime) -> Activity:
    """The server's threads. ``connection_types`` (performance_schema.threads) tells TLS and socket apart;
    None when performance_schema is off or not readable (then ``ssl`` stays unknown)."""
    backends = []
    for r in rows:
        pid = int(r["pid"])
        user, command = _text(r["user_name"]), _text(r["command"])
        kind = connection_types.get(pid) if connection_types is not None else None
        client, addr = _client(_text(r["host"]), kind)
        in_trx = r["trx_state"] is not None
        idle = "idle in transaction" if in_trx else "idle"
        state = idle if command == "Sleep" else "active"
        since = now - timedelta(seconds=int(r["state_seconds"])) if r["state_seconds"] is not None else None
        backends.append(Backend(
            pid=pid, user=user, database=_text(r["database_name"]), backend_type=_backend_type(user, command),
            client=client, client_addr=addr,
            ssl=None if kind is None else kind == "SSL/TLS",
            state=state, state_change=since, query_start=since if command != "Sleep" else None,
            xact_start=now - timedelta(seconds=int(r["trx_seconds"])) if in_trx and r["trx_seconds"] is not None
            else None,
            is_self=bool(r["is_self"]), statement=redact_statement(_text(r["statement"]), "mysql"),
            command=command, rows_modified=None if r["rows_modified"] is None else int(r["rows_modified"]),
        ))
    return Activity(backends=tuple(backends))
