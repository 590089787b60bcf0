"""Shared parts of the settings and security checks: preconditions on the posture areas, remediation SQL."""

from __future__ import annotations

import re
from collections.abc import Iterable

from auditor.engine import Precondition, Unmet
from auditor.model import Snapshot
from auditor.posture import (
    FUNCTIONS_AREA,
    HBA_AREA,
    IO_AREA,
    ROLE_SETTINGS_AREA,
    ROLES_AREA,
    SCHEMA_PRIVILEGES_AREA,
    SERVER_STATS_AREA,
    SETTINGS_AREA,
    STATUS_AREA,
    USER_STATEMENTS_AREA,
    ServerSetting,
)
from auditor.sqlquote import pg_ident, pg_literal

BOTH = ("postgresql", "mysql")

# Posture attribute -> the Note area its connector writes when it cannot read it
_AREA_OF = {
    "settings": SETTINGS_AREA,
    "role_settings": ROLE_SETTINGS_AREA,
    "roles": ROLES_AREA,
    "hba_rules": HBA_AREA,
    "schema_privileges": SCHEMA_PRIVILEGES_AREA,
    "definer_functions": FUNCTIONS_AREA,
    "database_stats": SERVER_STATS_AREA,
    "checkpoints": SERVER_STATS_AREA,
    "io": IO_AREA,
    "status": STATUS_AREA,
    "user_statements": USER_STATEMENTS_AREA,
}

_WHAT = {
    "settings": "the server settings (pg_settings)",
    "role_settings": "the settings stored per role and database (pg_db_role_setting)",
    "roles": "the roles and accounts",
    "hba_rules": "the authentication rules (pg_hba_file_rules)",
    "schema_privileges": "the schema privileges",
    "definer_functions": "the SECURITY DEFINER functions",
    "database_stats": "the database counters (pg_stat_database)",
    "checkpoints": "the checkpoint counters",
    "io": "the buffer counters (pg_statio_user_tables / _indexes)",
    "status": "the server's status counters (SHOW GLOBAL STATUS)",
    "user_statements": "the statements per user (performance_schema)",
}


def requires_posture(*, postgresql: Iterable[str] = (), mysql: Iterable[str] = ()) -> Precondition:
    """The posture areas a check reads, per engine; a missing one skips the check with its note's GRANT."""
    needed = {"postgresql": tuple(postgresql), "mysql": tuple(mysql)}

    def pre(snap: Snapshot) -> Unmet | None:
        for attr in needed.get(snap.engine, ()):
            if snap.posture is not None and getattr(snap.posture, attr) is not None:
                continue
            area = _AREA_OF[attr]
            note = next((n for n in snap.notes if n.area == area), None)
            if note is not None:
                return Unmet(note.message, note.enable)
            return Unmet(f"{_WHAT[attr]} were not collected (a snapshot from an older dbaudit, or the query "
                         "was refused)", None)
        return None

    pre.__name__ = "requires_posture_" + "_".join(sorted({*needed["postgresql"], *needed["mysql"]}))
    return pre


def requires_activity(*engines: str) -> Precondition:
    """The sessions (Snapshot.activity) on the given engines; a missing one skips with its note's GRANT."""

    def pre(snap: Snapshot) -> Unmet | None:
        if snap.engine not in engines or snap.activity is not None:
            return None
        note = next((n for n in snap.notes if n.area == "activity"), None)
        if note is not None:
            return Unmet(note.message, note.enable)
        return Unmet("the sessions were not read (a snapshot from an older dbaudit)", None)

    pre.__name__ = "requires_activity_" + "_".join(engines)
    return pre


def size(n: float | int | None) -> str:
    """1.5 GB, 128 MB, 640 kB (binary units, as PostgreSQL prints them)."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            if unit == "bytes":
                return f"{int(value)} bytes"
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def pct(value: float) -> str:
    """One decimal, as everywhere; two only where one would round a near-total up to a whole (99.96 %)."""
    return f"{value:.2f} %" if 99.95 <= value < 100 else f"{value:.1f} %"


_BARE = re.compile(r"^(-?\d+(\.\d+)?|on|off|true|false)$")


def scope(snap: Snapshot, setting: ServerSetting | None) -> str:
    """Where a value the audit session resets to comes from, as a phrase: "" when it is the server's."""
    source = setting.source if setting is not None else None
    login = snap.posture.login if snap.posture is not None else "?"
    if source == "database":
        return f" in database {snap.database}"
    if source == "user":
        return f" for role {login}"
    if source == "database user":
        return f" for role {login} in database {snap.database}"
    return ""


def alter_system(snap: Snapshot, name: str, value: str, setting: ServerSetting | None) -> str:
    """The statement that sets ``name`` where its value comes from, with what makes it take effect.

    A value stored for the database or the role (``ALTER DATABASE/ROLE ... SET``) is changed there: ALTER
    SYSTEM would not override it. Server-wide values get ``ALTER SYSTEM SET`` and a reload, or a restart note
    for postmaster settings.
    """
    shown = value if _BARE.match(value) else pg_literal(value)
    source = setting.source if setting is not None else None
    login = snap.posture.login if snap.posture is not None else ""
    if source == "database" and snap.database:
        return f"ALTER DATABASE {pg_ident(snap.database)} SET {name} = {shown};  -- new sessions get it"
    if source == "user" and login:
        return f"ALTER ROLE {pg_ident(login)} SET {name} = {shown};  -- new sessions get it"
    if source == "database user" and login and snap.database:
        return (f"ALTER ROLE {pg_ident(login)} IN DATABASE {pg_ident(snap.database)} SET {name} = {shown};"
                "  -- new sessions get it")
    statement = f"ALTER SYSTEM SET {name} = {shown};"
    if setting is not None and setting.needs_restart:
        return f"{statement}  -- takes effect after a server restart"
    return f"{statement}\nSELECT pg_reload_conf();"


def mysql_set_global(snap: Snapshot, name: str, value: str, dynamic: bool = True) -> str:
    """Set a global variable now and for the next start (SET PERSIST on MySQL 8, the option file elsewhere)."""
    if not dynamic:
        return f"-- not settable at run time: in the server's option file, then restart the server:\n" \
               f"-- [mysqld]\n-- {name} = {value}"
    if snap.flavor != "mariadb" and snap.server_version_num >= 80000:
        return f"SET PERSIST {name} = {value};"
    return f"SET GLOBAL {name} = {value};\n-- and in the server's option file, so that a restart keeps it:\n" \
           f"-- [mysqld]\n-- {name} = {value}"


# ---- timeouts of a role (ST05; SC04's new application role gets them too) ----------------------------------

TIMEOUTS = ("statement_timeout", "idle_in_transaction_session_timeout")
# what ST05's fix proposes by default (its options), and SC04's fix sets on the role it creates
DEFAULT_TIMEOUTS = {"statement_timeout": "60s", "idle_in_transaction_session_timeout": "10min"}


def timeout_off(value: str | None) -> bool:
    return (value or "").strip().lower() in ("off", "0", "false", "no")


def timeout_value(snap: Snapshot, role: str, name: str) -> str | None:
    """The value the setting ``name`` takes for ``role``'s sessions in the audited database: set for the role
    in this database, else for the role, else for the database, else server-wide; None when not visible (the
    server-wide value is hidden behind a value dbaudit's own role stores)."""
    posture = snap.posture
    if posture is None:
        return None
    role_settings = posture.role_settings or ()
    for want_role, want_db in ((role, snap.database), (role, None), (None, snap.database)):
        for rs in role_settings:
            if rs.role == want_role and rs.database == want_db and name in rs.settings:
                return rs.settings[name]
    # the server-wide value is what this session would reset to, unless its own role stores one
    if any(rs.role == posture.login and name in rs.settings for rs in role_settings):
        return None
    server = posture.setting(name)
    return server.value if server is not None else None


def timeouts_off(snap: Snapshot, role: str) -> list[str]:
    """The timeouts (of :data:`TIMEOUTS`) that are off for ``role``'s sessions here, as far as visible."""
    return [name for name in TIMEOUTS if (value := timeout_value(snap, role, name)) is not None
            and timeout_off(value)]
