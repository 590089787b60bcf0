"""The posture areas of a MySQL/MariaDB collection: accounts, their global privileges, what each user runs.

The settings and status counters come with the catalog's SHOW GLOBAL VARIABLES / STATUS; this adds mysql.user
(plugin, whether the password is empty, ACCOUNT LOCK, the static privileges on ``*.*`` -- never the hash) and, from
performance_schema, how many data statements each user ran. mysql.user is readable only with a grant on it:
without one the accounts are left out with a Note naming the GRANT, and the account checks are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pymysql

from auditor.model import Note
from auditor.posture import (
    ACCOUNT_LOCKS_AREA,
    ROLE_GRANTS_AREA,
    ROLES_AREA,
    USER_STATEMENTS_AREA,
    Posture,
    Role,
    UserStatements,
)

# the static privileges accounts*.sql reads from mysql.user; holding every one is ALL PRIVILEGES on *.*
STATIC_PRIVILEGES = (
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "RELOAD", "SHUTDOWN", "PROCESS", "FILE",
    "REFERENCES", "INDEX", "ALTER", "SHOW DATABASES", "SUPER", "CREATE TEMPORARY TABLES", "LOCK TABLES",
    "EXECUTE", "REPLICATION SLAVE", "REPLICATION CLIENT", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE",
    "ALTER ROUTINE", "CREATE USER", "EVENT", "TRIGGER", "CREATE TABLESPACE",
)

Rows = Callable[[str], "list[dict[str, Any]]"]


def mysql_login(current_user: str) -> str:
    """``'user'@'host'`` from CURRENT_USER()'s ``user@host``."""
    user, sep, host = current_user.rpartition("@")
    if not sep:
        return f"'{current_user}'@'%'"
    return f"'{user}'@'{host}'"


def collect_posture(rows: Rows, flavor: str, status: Mapping[str, str], login: str, ps_readable: bool,
                    notes: list[Note], ps_on: bool = True) -> Posture:
    """Accounts and per-user statement counts through ``rows(area_name)``; refusals become notes."""
    roles: tuple[Role, ...] | None = None
    locks_known = True
    grants_known = False
    try:
        if flavor == "mariadb":
            account_rows, locks_known = _mariadb_accounts(rows, login, notes)
        else:
            account_rows = rows("accounts.mysql")
        granted = _role_grants(rows, login, notes) if flavor == "mariadb" else None
        grants_known = granted is not None
        roles = tuple(_role(r, granted or {}) for r in account_rows)
    except pymysql.err.MySQLError as exc:
        notes.append(Note(
            area=ROLES_AREA,
            message=f"accounts not read: mysql.user is not readable ({_error_text(exc)})",
            enable=f"GRANT SELECT ON mysql.user TO {login}" + (
                f"; GRANT SELECT ON mysql.global_priv TO {login}; GRANT SELECT ON mysql.roles_mapping TO {login}"
                if flavor == "mariadb" else ""),
        ))
    statements: tuple[UserStatements, ...] | None = None
    if ps_readable:
        try:
            statements = tuple(
                UserStatements(user=_text(r["user_name"]), dml=int(r["dml"] or 0), other=int(r["other"] or 0))
                for r in rows("user_statements"))
        except pymysql.err.MySQLError as exc:
            notes.append(Note(
                area=USER_STATEMENTS_AREA,
                message=f"statements per user unknown: performance_schema is not readable ({_error_text(exc)})",
                enable=f"GRANT SELECT ON performance_schema.* TO {login}",
            ))
    elif not ps_on:
        notes.append(Note(
            area=USER_STATEMENTS_AREA,
            message="statements per user unknown: performance_schema is off on this server (set it in the option "
                    "file and restart)",
            enable="[mysqld]\nperformance_schema = ON",  # read at startup only: a restart
        ))
    return Posture(login=login, roles=roles, passwords_known=roles is not None, status=dict(status),
                   user_statements=statements, account_locks_known=locks_known, role_grants_known=grants_known)


# the server has no such table (MariaDB before 10.4 has no mysql.global_priv, hence no ACCOUNT LOCK)
_NO_SUCH_TABLE = 1146


def _mariadb_accounts(rows: Rows, login: str, notes: list[Note]) -> tuple[list[dict[str, Any]], bool]:
    """mysql.user with ACCOUNT LOCK from mysql.global_priv (10.4+), and whether the locks are known; mysql.user
    alone when that is refused (a note names the GRANT: locked accounts then look unlocked) or absent (before
    10.4, which has no ACCOUNT LOCK): one round trip unless the first is refused."""
    try:
        return rows("accounts"), True
    except pymysql.err.MySQLError as exc:
        account_rows = rows("accounts.user_only")
        if exc.args and exc.args[0] == _NO_SUCH_TABLE:
            return account_rows, True
        notes.append(Note(
            area=ACCOUNT_LOCKS_AREA,
            message="which accounts are locked (ACCOUNT LOCK) is unknown: MariaDB keeps it in mysql.global_priv, "
                    f"which is not readable ({_error_text(exc)}); SC08 reports passwordless accounts with that "
                    "caveat",
            enable=f"GRANT SELECT ON mysql.global_priv TO {login}",
        ))
        return account_rows, False


def _role_grants(rows: Rows, login: str, notes: list[Note]) -> dict[tuple[str, str], tuple[str, ...]] | None:
    """MariaDB: (user, host) -> the roles granted to it ('' host for a role), from mysql.roles_mapping; None
    when it is refused (a note names the GRANT)."""
    try:
        mapping = rows("role_grants")
    except pymysql.err.MySQLError as exc:
        notes.append(Note(
            area=ROLE_GRANTS_AREA,
            message="the roles granted to accounts are unknown: mysql.roles_mapping is not readable "
                    f"({_error_text(exc)}); SC09 counts an account's default role (mysql.user) but not the roles "
                    "granted to that role, nor whether it is still granted",
            enable=f"GRANT SELECT ON mysql.roles_mapping TO {login}",
        ))
        return None
    out: dict[tuple[str, str], list[str]] = {}
    for r in mapping:
        out.setdefault((_text(r["user_name"]), _text(r["host"])), []).append(_text(r["role_name"]))
    return {k: tuple(v) for k, v in out.items()}


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _error_text(exc: pymysql.err.MySQLError) -> str:
    if len(exc.args) > 1:
        return f"error {exc.args[0]}: {' '.join(str(exc.args[1]).split())}"
    return " ".join(str(exc).split())


def _role(r: Mapping[str, Any], granted: Mapping[tuple[str, str], tuple[str, ...]]) -> Role:
    held = tuple(p for p in _text(r["privileges"]).split(",") if p)
    name, host = _text(r["user_name"]), _text(r["host"])
    return Role(
        name=name,
        host=host,
        plugin=_text(r["plugin"]),
        password="empty" if int(r["empty_password"] or 0) else "set",
        locked=bool(int(r["locked"] or 0)),
        is_role=bool(int(r["is_role"] or 0)),
        login=not bool(int(r["is_role"] or 0)),
        global_privileges=held,
        grant_option=bool(int(r["grant_option"] or 0)),
        all_privileges=set(held) >= set(STATIC_PRIVILEGES),
        default_role=_text(r.get("default_role")) or None,
        granted_roles=granted.get((name, host), ()),
    )
