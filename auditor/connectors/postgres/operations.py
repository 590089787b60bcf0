"""Rows of the operational areas (sessions, ...) into their snapshot dataclasses (auditor.operations)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auditor.operations import Activity, Backend, redact_statement
from auditor.sqlquote import pg_ident

# roles whose members see every session in full (pg_monitor includes pg_read_all_stats)
FULL_VIEW_ROLES = frozenset({"superuser", "pg_read_all_stats", "pg_monitor"})


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def activity(rows: Iterable[Mapping[str, Any]], capabilities: Iterable[str], role: str) -> Activity:
    """The sessions of the server; incomplete (with the GRANT that completes it) without pg_read_all_stats."""
    backends = tuple(
        Backend(
            pid=int(r["pid"]), user=r["user"], database=r["database"], application_name=r["application_name"],
            backend_type=r["backend_type"], client=r["client"], client_addr=r["client_addr"], ssl=r["ssl"],
            state=r["state"], backend_start=r["backend_start"], xact_start=r["xact_start"],
            query_start=r["query_start"], state_change=r["state_change"], xid_age=_int(r["xid_age"]),
            xmin_age=_int(r["xmin_age"]), wait_event_type=r["wait_event_type"], wait_event=r["wait_event"],
            is_self=bool(r["is_self"]), visible=bool(r["visible"]),
            # "<insufficient privilege>" is no statement; a hidden session has none to show
            statement=redact_statement(r["statement"]) if r["visible"] else None,
        )
        for r in rows
    )
    if FULL_VIEW_ROLES & set(capabilities):
        return Activity(backends=backends)
    grantee = pg_ident(role) if role else "<role>"
    return Activity(
        backends=backends, complete=False,
        reason=f"role {role or '?'} sees the state, times and statements of its own sessions only",
        enable=f"GRANT pg_monitor TO {grantee}",
    )
