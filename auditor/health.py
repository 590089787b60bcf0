"""Figures for the design document's "Maintenance and operations" section, from what the snapshot holds.

Nothing here judges (the checks do); it gathers per-table vacuum and analyze state, transaction ID ages,
sessions, replication and the settings a DBA looks at first, each None or empty when the snapshot did not
collect it. The table-side maintenance area (``Snapshot.maintenance``: freeze ages, storage parameters, InnoDB
statistics) is read defensively, attribute by attribute, so that an older snapshot renders too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.model import Finding, Snapshot, Table

# families whose findings the section lists: maintenance, replication, settings, security, capacity
HEALTH_FAMILIES = ("maintenance", "replication", "settings", "security", "capacity")

PG_SETTINGS = (
    "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem", "max_connections",
    "autovacuum", "autovacuum_max_workers", "autovacuum_vacuum_scale_factor", "autovacuum_analyze_scale_factor",
    "autovacuum_vacuum_cost_limit", "autovacuum_freeze_max_age", "max_wal_size", "checkpoint_timeout",
    "random_page_cost", "fsync", "full_page_writes", "synchronous_commit", "statement_timeout",
    "idle_in_transaction_session_timeout", "ssl", "password_encryption", "wal_level", "max_slot_wal_keep_size",
    "hot_standby_feedback",
)
MYSQL_SETTINGS = (
    "innodb_buffer_pool_size", "max_connections", "innodb_flush_log_at_trx_commit", "sync_binlog",
    "innodb_doublewrite", "log_bin", "binlog_format", "innodb_log_file_size", "wait_timeout",
    "long_query_time", "performance_schema", "have_ssl", "require_secure_transport", "read_only",
)
ROW_LIMIT = 15


@dataclass(frozen=True)
class VacuumRow:
    table: Table
    live: int | None
    dead: int | None
    dead_pct: float | None
    last_vacuum: datetime | None
    last_analyze: datetime | None
    modified_since_analyze: int | None
    xid_age: int | None  # from the maintenance area, when collected
    stats_known: bool = True  # False: no activity counters for the table (the vacuum times are unknown too)


def _latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def _freeze_by_table(snap: Snapshot) -> dict[tuple[str, str], Any]:
    maintenance = getattr(snap, "maintenance", None)
    rows = getattr(maintenance, "freeze", None) or ()
    out: dict[tuple[str, str], Any] = {}
    for r in rows:
        schema, table = getattr(r, "schema", None), getattr(r, "table", None)
        if schema is not None and table is not None:
            out[(schema, table)] = r
    return out


def vacuum_rows(snap: Snapshot, limit: int = ROW_LIMIT) -> list[VacuumRow]:
    """Ordinary tables, most dead rows first, then the largest: what vacuum and analyze have done for them."""
    freeze = _freeze_by_table(snap)
    rows: list[VacuumRow] = []
    for t in snap.tables:
        if t.kind not in ("table", "materialized_view"):
            continue
        s = t.stats
        live, dead = s.n_live_tup, s.n_dead_tup
        dead_pct = 100.0 * dead / (live + dead) if live is not None and dead is not None and live + dead else None
        f = freeze.get(t.key)
        ages = [a for a in (getattr(f, "xid_age", None), getattr(f, "toast_xid_age", None)) if a is not None]
        rows.append(VacuumRow(
            table=t, live=live if live is not None else t.estimated_rows, dead=dead, dead_pct=dead_pct,
            last_vacuum=_latest(s.last_vacuum, s.last_autovacuum),
            last_analyze=_latest(s.last_analyze, s.last_autoanalyze),
            modified_since_analyze=s.n_mod_since_analyze, xid_age=max(ages) if ages else None,
            stats_known=live is not None or dead is not None,
        ))
    rows.sort(key=lambda r: (-(r.dead or 0), -(r.table.total_bytes or 0), r.table.qualified))
    return rows[:limit]


@dataclass(frozen=True)
class DatabaseAge:
    name: str
    xid_age: int
    mxid_age: int | None


def database_ages(snap: Snapshot) -> list[DatabaseAge] | None:
    """Per-database transaction ID ages (the maintenance area), oldest first; None when not collected."""
    maintenance = getattr(snap, "maintenance", None)
    rows = getattr(maintenance, "databases", None)
    if rows is None:
        return None
    out = [DatabaseAge(str(getattr(r, "name", "?")), int(getattr(r, "xid_age", 0) or 0), getattr(r, "mxid_age", None))
           for r in rows]
    return sorted(out, key=lambda d: -d.xid_age)


@dataclass(frozen=True)
class SessionSummary:
    total: int
    by_state: tuple[tuple[str, int], ...]
    in_transaction: int
    oldest_transaction_s: float | None
    complete: bool
    prepared: int | None  # prepared transactions (PostgreSQL), None when not read


def session_summary(snap: Snapshot) -> SessionSummary | None:
    if snap.activity is None:
        return None
    clients = snap.activity.clients()
    states: dict[str, int] = {}
    for b in clients:
        key = b.state or "hidden"
        states[key] = states.get(key, 0) + 1
    now = snap.replication.server_time if snap.replication and snap.replication.server_time else snap.collected_at
    starts = [b.xact_start for b in clients if b.xact_start is not None]
    oldest = (now - min(starts)).total_seconds() if starts and now else None
    prepared = None
    if snap.replication is not None and snap.replication.prepared_xacts is not None:
        prepared = len(snap.replication.prepared_xacts)
    return SessionSummary(
        total=len(clients), by_state=tuple(sorted(states.items(), key=lambda kv: (-kv[1], kv[0]))),
        in_transaction=len(starts), oldest_transaction_s=oldest, complete=snap.activity.complete,
        prepared=prepared,
    )


def settings_that_matter(snap: Snapshot) -> list[tuple[str, str, str]]:
    """(name, current value with its unit, source) of the settings a DBA reads first, where known."""
    out: list[tuple[str, str, str]] = []
    if snap.engine == "postgresql":
        posture_settings = {s.name: s for s in (snap.posture.settings or ())} if snap.posture else {}
        for name in PG_SETTINGS:
            s = posture_settings.get(name)
            if s is not None:
                out.append((name, _value_text(s), "default" if s.is_default else (s.source or "")))
            elif name in snap.settings:
                out.append((name, snap.settings[name], ""))
    else:
        for name in MYSQL_SETTINGS:
            if name in snap.settings:
                out.append((name, snap.settings[name], ""))
    return out


def _value_text(s: Any) -> str:
    """A setting's value as a DBA writes it: 128 MB, 5 min, 0 (off) rather than 16384 (8kB)."""
    size = s.bytes()
    if size is not None:
        for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
            if size >= factor and size % factor == 0:
                return f"{size // factor} {unit}"
        return f"{size} B"
    millis = s.millis()
    if millis is not None:
        if millis <= 0:
            return f"{s.value} (off)" if millis == 0 else s.value
        for unit, factor in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
            if millis >= factor and millis % factor == 0:
                return f"{int(millis // factor)} {unit}"
        return f"{millis:g} ms"
    return str(s.value)


def security_facts(snap: Snapshot) -> list[tuple[str, str]]:
    """A few counted facts of the security posture; "not readable" where the area was not collected."""
    posture = snap.posture
    if posture is None:
        return []
    facts: list[tuple[str, str]] = []
    roles = posture.roles
    if snap.engine == "postgresql":
        if roles is None:
            facts.append(("Login roles", "not readable"))
        else:
            logins = [r for r in roles if r.login]
            facts.append(("Login roles", f"{len(logins)}, of which superusers: "
                                         f"{sum(1 for r in logins if r.superuser)}"))
            if posture.passwords_known:
                facts.append(("Passwords stored as MD5", str(sum(1 for r in roles if r.password == "md5"))))
            else:
                facts.append(("Passwords stored as MD5", "unknown (pg_authid is readable by superusers only)"))
        if posture.hba_rules is None:
            facts.append(("pg_hba.conf trust / password rules", "not readable"))
        else:
            weak = [r for r in posture.hba_rules if r.method in ("trust", "password")]
            facts.append(("pg_hba.conf trust / password rules", str(len(weak))))
        if posture.schema_privileges is not None:
            open_schemas = [p.schema for p in posture.schema_privileges if p.public_create]
            facts.append(("Schemas where PUBLIC may CREATE", ", ".join(open_schemas) or "none"))
        ssl = posture.setting("ssl")
        if ssl is not None:
            facts.append(("ssl", ssl.value))
    else:
        if roles is None:
            facts.append(("Accounts", "not readable (GRANT SELECT ON mysql.user)"))
        else:
            facts.append(("Accounts", str(len([r for r in roles if r.login]))))
            facts.append(("Anonymous accounts", str(sum(1 for r in roles if not r.name))))
            facts.append(("Accounts with an empty password", str(sum(1 for r in roles if r.password == "empty"))))
        if "have_ssl" in snap.settings:
            facts.append(("have_ssl", snap.settings["have_ssl"]))
    return facts


def health_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The findings of the server-health families, in the report's order."""
    return [f for f in findings if f.category in HEALTH_FAMILIES]
