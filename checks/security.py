"""Security: authentication, passwords, who may create objects, privilege escalation, accounts."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.engine import NoOptions, Unmet, check
from auditor.model import Hit, ObjectRef, Severity, Snapshot, Statement
from auditor.operations import REMOTE, Backend
from auditor.posture import PASSWORDS_AREA, DefinerFunction, HbaRule, Role
from auditor.sqlquote import mysql_account, mysql_ident, pg_ident, pg_literal, pg_qualified
from auditor.workload import may_read_catalog, query_kind, query_shape
from checks._posture import (
    BOTH,
    DEFAULT_TIMEOUTS,
    alter_system,
    requires_activity,
    requires_posture,
    scope,
    timeouts_off,
)

# Authentication plugins that check who the client is without a password (socket credentials, PAM, Kerberos,
# LDAP, Windows): an empty authentication string is no empty password for them.
NO_PASSWORD_PLUGINS = frozenset({
    "unix_socket", "auth_socket", "win_socket", "named_pipe", "pam", "auth_pam", "auth_pam_compat",
    "authentication_pam", "gssapi", "auth_gssapi", "authentication_kerberos", "authentication_ldap_sasl",
    "authentication_ldap_simple", "authentication_windows", "authentication_fido", "authentication_webauthn",
})

# Accounts a MySQL/MariaDB server creates for itself: locked, or administrative by design
SYSTEM_ACCOUNTS = frozenset({"mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema", "debian-sys-maint"})


def _hba_ref(rule: HbaRule) -> ObjectRef:
    where = f"{rule.file} line {rule.line}" if rule.file else f"pg_hba.conf line {rule.line}"
    return ObjectRef(type="hba_rule", rule=where)


def _address(rule: HbaRule) -> str:
    """The rule's address as pg_hba.conf is usually written: 10.0.0.0/8 rather than 10.0.0.0 255.0.0.0."""
    if not rule.address or not rule.netmask:
        return rule.address or ""
    try:
        mask = ipaddress.ip_address(rule.netmask)
    except ValueError:
        return f"{rule.address} {rule.netmask}"
    bits = bin(int(mask))[2:].zfill(mask.max_prefixlen)
    prefix = bits.find("0") if "0" in bits else mask.max_prefixlen
    if "1" in bits[prefix:]:  # not a contiguous mask: keep the form the file may have used
        return f"{rule.address} {rule.netmask}"
    return f"{rule.address}/{prefix}"


def _hba_text(rule: HbaRule, method: str | None = None) -> str:
    parts = [rule.type, ",".join(rule.databases), ",".join(rule.users)]
    if rule.address:
        parts.append(_address(rule))
    parts.append(method or rule.method)
    parts.extend(rule.options)
    return " ".join(p for p in parts if p)


# ------------------------------------------------------------------------------------------------------------
# SC01 weak-authentication
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeakAuthenticationOptions:
    # local-socket rules for these users are the administrator's own way in (Debian: "local all postgres peer")
    trusted_local_users: tuple[str, ...] = ("postgres",)


@check(code="SC01", name="weak-authentication", severity=Severity.ERROR, engines=("postgresql",),
       options=WeakAuthenticationOptions, requires=(requires_posture(postgresql=("hba_rules",)),),
       not_applicable={"mysql": "MySQL/MariaDB authenticate per account (SC08 empty-password, SC07)"})
def weak_authentication(snap: Snapshot, opts: WeakAuthenticationOptions) -> Iterator[Hit]:
    """A pg_hba.conf rule that lets clients in without a password (`trust`) or with one sent in clear (`password`).

    ## What it does
    Reads the rules the server loaded (pg_hba_file_rules) and flags `trust` (error) and `password` (warning).
    Local-socket rules for the administrator's own OS user (`trusted_local_users`, by default `postgres`) are
    not flagged: that is how the package's maintenance scripts get in.

    ## Why is this bad?
    `trust` accepts any client that matches the rule as whichever role it names, superusers included: over
    TCP anyone who reaches the port (or, on loopback, any process on the machine), on the local socket any OS
    user. `password` sends the password in clear text, readable by anyone on the path unless the connection
    is encrypted.

    ## Example
    ```
    host  all  all  10.0.0.0/8  trust
    ```

    ## Fix
    Use `scram-sha-256` in pg_hba.conf, then reload:
    ```sql
    SELECT pg_reload_conf();
    ```

    ## Options
    - `trusted_local_users` (default ["postgres"]): users whose `local` rules are not flagged.

    ## Known problems
    pg_hba_file_rules is readable by superusers only: for another role the check is skipped, saying which
    GRANT enables it. A `trust` rule on a socket only root can reach is harmless but still flagged.

    ## References
    - https://www.postgresql.org/docs/current/auth-trust.html
    - https://www.postgresql.org/docs/current/auth-password.html
    """
    assert snap.posture is not None
    for rule in snap.posture.hba_rules or ():
        if rule.error or rule.method not in ("trust", "password"):
            continue
        if rule.type == "local" and rule.users and set(rule.users) <= set(opts.trusted_local_users):
            continue
        text = _hba_text(rule)
        fix = f"-- {_hba_ref(rule).rule}: {_hba_text(rule, 'scram-sha-256')}\nSELECT pg_reload_conf();"
        if rule.method == "trust":
            who = _who(rule)
            yield Hit(
                object=_hba_ref(rule),
                message=f"pg_hba.conf rule \"{text}\" trusts {who} without a password, as any role it names"
                        + (" (superusers included)" if "all" in rule.users else ""),
                details={"type": rule.type, "databases": list(rule.databases), "users": list(rule.users),
                         "address": rule.address, "method": rule.method, "line": rule.line},
                remediation=fix,
            )
        else:
            yield Hit(
                object=_hba_ref(rule),
                message=f"pg_hba.conf rule \"{text}\" asks for the password in clear text: anyone on the path "
                        "reads it unless the connection is encrypted",
                details={"type": rule.type, "databases": list(rule.databases), "users": list(rule.users),
                         "address": rule.address, "method": rule.method, "line": rule.line},
                remediation=fix,
                severity=Severity.WARNING,
            )


def _who(rule: HbaRule) -> str:
    if rule.type == "local":
        return "every OS user of the machine on the local socket"
    address = (rule.address or "").lower()
    if address in ("all", "0.0.0.0", "::", "samenet", "samehost") or rule.netmask in ("0.0.0.0", "::"):
        return "every client that reaches the port"
    if address.startswith("127.") or address in ("::1", "localhost"):
        return "every process of the machine"
    return f"every client from {_address(rule)}"


# ------------------------------------------------------------------------------------------------------------
# SC02 md5-password
# ------------------------------------------------------------------------------------------------------------


def _passwords_or_md5_setting(snap: Snapshot) -> Unmet | None:
    """Password kinds are needed, unless password_encryption = md5 alone is a finding."""
    posture = snap.posture
    if posture is None or posture.roles is None or posture.passwords_known:
        return None
    setting = posture.setting("password_encryption")
    if setting is not None and setting.value == "md5":
        return None
    note = next((n for n in snap.notes if n.area == PASSWORDS_AREA), None)
    reason = note.message if note else "the kind of each role's password is unknown"
    return Unmet(reason, note.enable if note else None)


@check(code="SC02", name="md5-password", severity=Severity.WARNING, engines=("postgresql",),
       requires=(requires_posture(postgresql=("settings", "roles")), _passwords_or_md5_setting),
       not_applicable={"mysql": "MySQL/MariaDB authentication plugins are judged by SC08 (empty-password)"})
def md5_password(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """Passwords stored as MD5 hashes, or `password_encryption = md5` storing new ones that way.

    ## What it does
    Flags `password_encryption = md5` and every role that may log in whose stored password is an MD5 hash
    (read from pg_authid as its kind only, never the hash). Roles with SCRAM-SHA-256 passwords or without a
    password are not findings.

    ## Why is this bad?
    An MD5 hash is the password's equivalent: whoever reads it (a backup, a replica, pg_authid) can log in
    with it, and it is cheap to brute-force. SCRAM-SHA-256 stores a salted, iterated verifier and never
    sends the password. MD5 passwords are deprecated since PostgreSQL 18.

    ## Example
    ```sql
    SET password_encryption = 'md5';
    CREATE ROLE app LOGIN PASSWORD '...';
    ```

    ## Fix
    ```sql
    ALTER SYSTEM SET password_encryption = 'scram-sha-256';
    SELECT pg_reload_conf();
    ```
    then set each password again (psql's `\\password app` hashes it on the client), and use `scram-sha-256`
    in pg_hba.conf.

    ## Known problems
    The kind of each password is in pg_authid, readable by superusers only: for another role only the
    setting is judged, and the check is skipped when the setting is fine.

    ## References
    - https://www.postgresql.org/docs/current/auth-password.html
    - postgresqltuner.pl (password_encryption, passwords equal to the user name)
    """
    assert snap.posture is not None
    setting = snap.posture.setting("password_encryption")
    if setting is not None and setting.value == "md5":
        yield Hit(
            object=ObjectRef(type="setting", setting="password_encryption"),
            message=f"password_encryption = md5{scope(snap, setting)}: every password set from now on is stored "
                    "as an MD5 hash",
            details={"setting": "password_encryption", "value": setting.value},
            remediation=alter_system(snap, "password_encryption", "scram-sha-256", setting),
        )
    if not snap.posture.passwords_known:
        return
    for role in snap.posture.roles or ():
        if not role.login or role.password != "md5":
            continue
        yield Hit(
            object=ObjectRef(type="role", role=role.name),
            message=f"role {role.name} logs in with a password stored as an MD5 hash: whoever reads the hash "
                    "can log in with it; set it again under scram-sha-256",
            details={"role": role.name, "password": "md5", "superuser": role.superuser},
            remediation="SET password_encryption = 'scram-sha-256';\n"
                        f"ALTER ROLE {pg_ident(role.name)} PASSWORD '<the new password>';"
                        f"  -- or, in psql: \\password {pg_ident(role.name)}",
        )


# ------------------------------------------------------------------------------------------------------------
# SC03 public-schema-create
# ------------------------------------------------------------------------------------------------------------


@check(code="SC03", name="public-schema-create", severity=Severity.WARNING, engines=("postgresql",),
       requires=(requires_posture(postgresql=("schema_privileges",)),),
       not_applicable={"mysql": "MySQL/MariaDB grant CREATE per account, never to everyone"})
def public_schema_create(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """CREATE on a schema granted to PUBLIC: every role may put objects where others look them up.

    ## What it does
    Reads the ACL of every audited schema (with the built-in default when none is stored) and flags those
    where PUBLIC holds CREATE. CREATE granted to named roles is not a finding.

    ## Why is this bad?
    Any role that may log in can create functions, operators and tables in that schema. Placed early on
    other roles' search_path, they shadow the objects those roles meant to call (CVE-2018-1058): a
    superuser's unqualified `lower(...)` runs the attacker's function. PostgreSQL 15 stopped granting it on
    `public` by default; databases created earlier and upgraded keep the old grant.

    ## Example
    ```sql
    GRANT CREATE ON SCHEMA public TO PUBLIC;  -- the default before PostgreSQL 15
    ```

    ## Fix
    ```sql
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    ```
    and grant CREATE to the roles that deploy schema changes.

    ## References
    - https://wiki.postgresql.org/wiki/A_Guide_to_CVE-2018-1058:_Protect_Your_Search_Path
    - https://www.postgresql.org/docs/current/ddl-schemas.html#DDL-SCHEMAS-PATTERNS
    """
    assert snap.posture is not None
    for sp in snap.posture.schema_privileges or ():
        if not sp.public_create:
            continue
        yield Hit(
            object=ObjectRef(type="schema", schema=sp.schema),
            message=f"every role may create objects in schema {sp.schema} (CREATE granted to PUBLIC): any "
                    "login can plant functions and tables that shadow the ones other roles look up through "
                    "their search_path",
            details={"schema": sp.schema, "owner": sp.owner, "named_grantees": list(sp.create_grantees)},
            remediation=f"REVOKE CREATE ON SCHEMA {pg_ident(sp.schema)} FROM PUBLIC;",
        )


# ------------------------------------------------------------------------------------------------------------
# SC04 superuser-application-role
# ------------------------------------------------------------------------------------------------------------

APP_KINDS = frozenset({"select", "insert", "update", "delete", "merge"})


@dataclass(frozen=True)
class SuperuserApplicationRoleOptions:
    min_app_calls: int = 1000  # calls of data statements on the audited tables that mark an application
    min_sessions: int = 5  # concurrent client sessions, administration tools aside, that mark an application
    # application_name prefixes of administration tools, whose sessions are an administrator's
    admin_applications: tuple[str, ...] = (
        "psql", "pg_dump", "pg_dumpall", "pg_restore", "pg_basebackup", "pg_upgrade", "pg_repack", "pgAdmin",
        "DBeaver", "DataGrip", "Navicat", "dbaudit",
    )


def _app_evidence_visible(snap: Snapshot) -> Unmet | None:
    """SC04 reads pg_stat_statements per role, or the sessions: at least one must be there in full."""
    if snap.engine != "postgresql":
        return None
    wl, act = snap.workload, snap.activity
    if (wl is not None and wl.status == "ok") or (act is not None and act.complete):
        return None
    why = []
    if wl is None or wl.status != "ok":
        why.append(f"pg_stat_statements: {(wl.message or wl.status) if wl is not None else 'not collected'}")
    if act is None or not act.complete:
        why.append(f"sessions: {(act.reason or 'incomplete') if act is not None else 'not read'}")
    login = snap.posture.login if snap.posture is not None else ""
    enable = (act.enable if act is not None and act.enable else
              f"GRANT pg_read_all_stats TO {pg_ident(login) if login else '<role>'}")
    return Unmet("which roles run the application's statements is not visible (" + "; ".join(why) + ")", enable)


@check(code="SC04", name="superuser-application-role", severity=Severity.ERROR, engines=("postgresql",),
       options=SuperuserApplicationRoleOptions,
       requires=(requires_posture(postgresql=("roles",)), _app_evidence_visible), needs=("workload",),
       not_applicable={"mysql": "see SC09 (app-user-global-privileges)"})
def superuser_application_role(snap: Snapshot, opts: SuperuserApplicationRoleOptions) -> Iterator[Hit]:
    """A superuser role that logs in and runs the application's statements.

    ## What it does
    For every superuser role that may log in, weighs two kinds of evidence: the calls of data statements
    (SELECT, INSERT, UPDATE, DELETE, MERGE on tables other than the catalog) it ran in the audited database
    according to pg_stat_statements, at least `min_app_calls`; and the client sessions it holds open now, at
    least `min_sessions`, administration tools (`admin_applications`: psql, pg_dump, pgAdmin...) and dbaudit's
    own session aside. A superuser that only runs maintenance (VACUUM, ANALYZE, CREATE INDEX, COPY for
    backups) is not a finding; neither is a role that only holds pg_read_all_data or pg_monitor.

    ## Why is this bad?
    A superuser bypasses every permission check and row-level security policy. Whoever takes over the
    application through an SQL injection or a leaked configuration owns the whole server: every database,
    `COPY ... TO PROGRAM` to run commands as the server's OS user, and the means to hide it.

    ## Example
    ```
    DATABASE_URL=postgresql://postgres:secret@db/shop
    ```

    ## Fix
    ```sql
    CREATE ROLE shop_app LOGIN PASSWORD '<a new password>';
    ALTER ROLE shop_app SET statement_timeout = '60s';  -- where neither database nor server bounds it (ST05)
    ALTER ROLE shop_app SET idle_in_transaction_session_timeout = '10min';
    GRANT CONNECT ON DATABASE shop TO shop_app;
    GRANT USAGE ON SCHEMA public TO shop_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO shop_app;
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO shop_app;
    ```
    then point the application at the new role.

    ## Options
    - `min_app_calls` (default 1000): data statement calls below this are taken for an administrator's.
    - `min_sessions` (default 5): open sessions below this are taken for an administrator's.
    - `admin_applications`: application_name prefixes of administration tools.

    ## Known problems
    pg_stat_statements keeps statements per role since its last reset only, and the sessions are a moment's
    view: an application that ran as a superuser long ago and no longer connects is not seen. Without
    pg_read_all_stats other roles' statements and sessions are hidden; the check is then skipped.

    ## References
    - https://www.postgresql.org/docs/current/role-attributes.html ("a superuser ... bypasses all permission
      checks"; "it is good practice to create a role that has the CREATEDB and CREATEROLE privileges, but is
      not a superuser")
    - PgHero (connections per user), pganalyze (per-role statement statistics)
    """
    assert snap.posture is not None
    supers = {r.name for r in snap.posture.roles or () if r.superuser and r.login}
    if not supers:
        return
    calls: dict[str, int] = {name: 0 for name in supers}
    statements: dict[str, list[Statement]] = {name: [] for name in supers}
    for stmt in snap.statements:
        if not stmt.toplevel or not (set(stmt.users) & supers):
            continue
        # the kind first, cheaply; the parse tree only for a text that may name a catalog
        if query_kind(snap, stmt.query) not in APP_KINDS:
            continue
        if may_read_catalog(stmt.query) and query_shape(snap, stmt.query).catalog_only:
            continue
        for user, n in stmt.users.items():
            if user in supers:
                calls[user] += n
                statements[user].append(stmt)
    sessions: dict[str, list[Backend]] = {name: [] for name in supers}
    if snap.activity is not None:
        for b in snap.activity.clients():
            app = b.application_name or ""
            if b.user in supers and not any(app.startswith(p) for p in opts.admin_applications):
                sessions[b.user].append(b)
    for role in sorted(supers):
        ran, open_now = calls[role], sessions[role]
        if ran < opts.min_app_calls and len(open_now) < opts.min_sessions:
            continue
        evidence = []
        if ran >= opts.min_app_calls:
            top = max(statements[role], key=lambda s: s.users.get(role, 0))
            evidence.append(f"ran {len(statements[role])} data statements ({ran:,} calls) on the application's "
                            f"tables, e.g. {_short(top.query)}")
        if len(open_now) >= opts.min_sessions:
            apps = sorted({b.application_name or "(no application_name)" for b in open_now})
            evidence.append(f"holds {len(open_now)} client sessions now ({', '.join(apps[:3])})")
        yield Hit(
            object=ObjectRef(type="role", role=role),
            message=f"superuser {role} serves an application: it " + " and ".join(evidence)
                    + "; whoever takes over the application owns the whole server",
            details={"role": role, "app_calls": ran, "app_statements": len(statements[role]),
                     "sessions": len(open_now)},
            remediation=_app_role_fix(snap, role),
        )


def _new_role_name(snap: Snapshot, role: str) -> str:
    """``<database>_app``, or with a number when a role of that name exists (rt18: the superuser serving the
    application was itself ``shop_app``, and the fix began with a CREATE ROLE the server refused)."""
    base = f"{snap.database or 'app'}_app"
    taken = {role, *(r.name for r in ((snap.posture.roles if snap.posture is not None else None) or ()))}
    n = 1
    while (name := base if n == 1 else f"{base}{n}") in taken:
        n += 1
    return name


def _short(query: str, limit: int = 80) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _app_role_fix(snap: Snapshot, role: str) -> str:
    name = _new_role_name(snap, role)
    new = pg_ident(name)
    schemas = [pg_ident(s) for s in snap.schemas] or ["public"]
    lines = [f"CREATE ROLE {new} LOGIN PASSWORD '<a new password>';  -- the application's own role"]
    # bounded from the start, as ST05 asks of every application role (its default values), where neither the
    # database nor the server bounds it already: applying this fix raises no new finding (rt16)
    lines += [f"ALTER ROLE {new} SET {setting} = {pg_literal(DEFAULT_TIMEOUTS[setting])};"
              for setting in timeouts_off(snap, name)]
    if snap.database:
        lines.append(f"GRANT CONNECT ON DATABASE {pg_ident(snap.database)} TO {new};")
    # one statement per privilege for all the schemas (PostgreSQL takes a list in each), wrapped: a database of
    # 400 tenant schemas got 1,200 GRANT lines, three per schema (rt17)
    lines += _schema_list_statement("GRANT USAGE ON SCHEMA", schemas, f"TO {new};")
    lines += _schema_list_statement("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA", schemas,
                                    f"TO {new};")
    lines += _schema_list_statement("GRANT USAGE ON ALL SEQUENCES IN SCHEMA", schemas, f"TO {new};")
    lines.append(f"-- then point the application at {new}; superuser {role} stays for administration")
    return "\n".join(lines)


# the width a wrapped schema list is filled to: the text report (reports/text.py WIDTH, 100 columns) indents a
# fix by 8 spaces, so 92 keeps every line of it within its width
FIX_LINE_WIDTH = 92


def _schema_list_statement(head: str, schemas: list[str], tail: str, width: int = FIX_LINE_WIDTH) -> list[str]:
    """One statement naming every schema (already quoted), its list wrapped at ``width`` with continuation lines
    indented: ``GRANT USAGE ON SCHEMA a, b,`` / ``    c, d TO r;``. One schema gives the one-line form."""
    lines: list[str] = []
    line = head
    for i, schema in enumerate(schemas):
        piece = schema + ("," if i < len(schemas) - 1 else "")
        if line.strip() and len(line) + 1 + len(piece) > width and line != head:
            lines.append(line)
            line = "   "
        line += " " + piece
    if len(line) + 1 + len(tail) > width and line.strip():
        lines.append(line)
        line = "   "
    lines.append(line + " " + tail)
    return lines


# ------------------------------------------------------------------------------------------------------------
# SC06 unencrypted-connections
# ------------------------------------------------------------------------------------------------------------


def listens_beyond_loopback(addresses: str) -> bool:
    """Whether a listen_addresses / bind_address value accepts connections from other machines."""
    for part in (p.strip().strip("[]") for p in addresses.split(",")):
        if not part or part.lower() == "localhost":
            continue
        if part in ("*", "0.0.0.0", "::"):
            return True
        try:
            if not ipaddress.ip_address(part).is_loopback:
                return True
        except ValueError:  # a host name other than localhost resolves to some interface's address
            return True
    return False


@check(code="SC06", name="unencrypted-connections", severity=Severity.WARNING, engines=BOTH,
       requires=(requires_posture(postgresql=("settings",)), requires_activity("postgresql", "mysql")))
def unencrypted_connections(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """SSL off on a server that listens beyond the machine, or remote sessions without encryption.

    ## What it does
    Flags SSL switched off (PostgreSQL `ssl = off`; MySQL/MariaDB `have_ssl` other than YES) when the server
    listens on other addresses than loopback (`listen_addresses`, `bind_address`), and the client sessions open
    now that come over TCP from another machine without encryption (pg_stat_ssl; performance_schema's
    connection type), grouped by role. Local-socket and loopback sessions, and servers that listen on
    loopback only, are not findings.

    ## Why is this bad?
    Without TLS, passwords sent in clear (`password` authentication, MySQL's first handshake with some
    plugins), every statement and every row travel readable by anyone on the network path, and can be
    altered on the way.

    ## Example
    ```
    listen_addresses = '*'   # and ssl = off
    ```

    ## Fix
    ```sql
    ALTER SYSTEM SET ssl = on;  -- with ssl_cert_file and ssl_key_file in place
    SELECT pg_reload_conf();
    ```
    then `hostssl` instead of `host` in pg_hba.conf; on MySQL/MariaDB `ALTER USER ... REQUIRE SSL` or
    `require_secure_transport = ON`.

    ## Known problems
    The sessions are a moment's view. A proxy or pooler on the database machine makes remote clients look
    local: their leg of the network is not seen.

    ## References
    - https://www.postgresql.org/docs/current/ssl-tcp.html
    - MySQLTuner (have_ssl, remote users without REQUIRE SSL); PgHero and pg-extras (`ssl_used`)
    """
    if snap.engine == "postgresql":
        assert snap.posture is not None
        ssl = snap.posture.setting("ssl")
        listen = snap.posture.setting("listen_addresses")
        ssl_off = ssl is not None and ssl.value.strip().lower() in ("off", "false", "0")
        addresses = listen.value if listen is not None else ""
        if ssl_off and listens_beyond_loopback(addresses):
            yield Hit(
                object=ObjectRef(type="setting", setting="ssl"),
                message=f"ssl = off while the server listens on {addresses}: every connection from another "
                        "machine, its password and its data travel unencrypted",
                details={"ssl": ssl.value if ssl else None, "listen_addresses": addresses},
                remediation=alter_system(snap, "ssl", "on", ssl) + "  -- ssl_cert_file and ssl_key_file first",
            )
    else:
        have = (snap.settings.get("have_ssl") or "").upper()
        bind = snap.settings.get("bind_address") or "*"
        networked = (snap.settings.get("skip_networking") or "OFF").upper() in ("OFF", "0")
        if have and have != "YES" and networked and listens_beyond_loopback(bind):
            yield Hit(
                object=ObjectRef(type="setting", setting="have_ssl"),
                message=f"TLS is not available (have_ssl = {have}) while the server listens on {bind}: every "
                        "connection from another machine, its password and its data travel unencrypted",
                details={"have_ssl": have, "bind_address": bind},
                remediation="-- in the server's option file, then restart the server:\n"
                            "-- [mysqld]\n-- ssl_cert = /etc/mysql/server-cert.pem\n"
                            "-- ssl_key = /etc/mysql/server-key.pem\n-- require_secure_transport = ON",
            )
    assert snap.activity is not None
    plain: dict[str, list[Backend]] = {}
    for b in snap.activity.clients():
        if b.client == REMOTE and b.ssl is False and b.user:
            plain.setdefault(b.user, []).append(b)
    for user, sessions in sorted(plain.items()):
        clients = sorted({b.client_addr or "?" for b in sessions})
        shown = ", ".join(clients[:5]) + (f" and {len(clients) - 5} more" if len(clients) > 5 else "")
        yield Hit(
            object=ObjectRef(type="role", role=user if snap.engine == "postgresql" else _account_name(snap, user)),
            message=f"{len(sessions)} session(s) of {user} from {shown} are not encrypted: its password and data "
                    "travel readable on the network",
            details={"user": user, "sessions": len(sessions), "client_addresses": clients},
            remediation=_encrypt_fix(snap, user),
        )


def _account_name(snap: Snapshot, user: str) -> str:
    hosts = sorted({r.host or "%" for r in (snap.posture.roles or ()) if r.name == user}) \
        if snap.posture is not None else []
    return mysql_account(user, hosts[0] if len(hosts) == 1 else "%")


def _encrypt_fix(snap: Snapshot, user: str) -> str:
    if snap.engine == "postgresql":
        return (f"-- pg_hba.conf: a hostssl rule for {user} before its host rules (and ssl = on), then\n"
                "SELECT pg_reload_conf();")
    return f"ALTER USER {_account_name(snap, user)} REQUIRE SSL;"


# ------------------------------------------------------------------------------------------------------------
# SC05 security-definer-search-path
# ------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)  # a few distinct paths for thousands of functions
def _path_entries(path: str) -> tuple[str, ...]:
    out = []
    for raw in path.split(","):
        item = raw.strip()
        if item.startswith('"') and item.endswith('"') and len(item) >= 2:
            item = item[1:-1].replace('""', '"')
        elif item != "$user":
            item = item.lower()
        if item:
            out.append(item)
    return tuple(out)


@check(code="SC05", name="security-definer-search-path", severity=Severity.WARNING, engines=("postgresql",),
       requires=(requires_posture(postgresql=("definer_functions", "schema_privileges")),),
       not_applicable={"mysql": "MySQL/MariaDB resolve a routine's unqualified names in its own database"})
def security_definer_search_path(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """A SECURITY DEFINER function that resolves names through its caller's search_path.

    ## What it does
    Flags SECURITY DEFINER functions and procedures of the audited schemas that do not fix `search_path`
    (`ALTER FUNCTION ... SET search_path`), or whose fixed path includes a schema where PUBLIC may create
    objects (warnings); a fixed path that does not name `pg_temp` last is reported as info. SECURITY INVOKER
    functions and paths such as `pg_catalog, pg_temp` or `app, pg_temp` are fine.

    ## Why is this bad?
    The function runs with its owner's privileges but looks up unqualified tables, functions and operators
    through the search_path of whoever calls it. A caller who can create objects in a schema on that path
    (or in `pg_temp`, searched first for tables unless named) substitutes their own and runs code as the
    owner: a privilege escalation, to superuser when a superuser owns the function.

    ## Example
    ```sql
    CREATE FUNCTION app.touch(id int) RETURNS void SECURITY DEFINER
        LANGUAGE sql AS $$ UPDATE accounts SET seen = now() WHERE account_id = id $$;
    ```

    ## Fix
    ```sql
    ALTER FUNCTION app.touch(integer) SET search_path = app, pg_temp;
    ```

    ## Known problems
    A function that qualifies every name it uses is safe without a fixed path; it is still flagged, since
    the check does not read function bodies.

    ## References
    - https://www.postgresql.org/docs/current/sql-createfunction.html#SQL-CREATEFUNCTION-SECURITY
    - https://wiki.postgresql.org/wiki/A_Guide_to_CVE-2018-1058:_Protect_Your_Search_Path
    """
    assert snap.posture is not None
    writable = {sp.schema for sp in snap.posture.schema_privileges or () if sp.public_create}
    for fn in snap.posture.definer_functions or ():
        path = fn.search_path
        entries = _path_entries(path) if path is not None else ()
        exposed = [e for e in entries if e in writable]
        if path is not None and not exposed and entries and entries[-1] == "pg_temp":
            continue  # a safe path: nothing below is built for it (most functions of a well-kept database)
        owner = f"its owner {fn.owner}" + (" (a superuser)" if fn.owner_superuser else "")
        details = {"function": f"{fn.name}({fn.arguments})", "owner": fn.owner,
                   "owner_superuser": fn.owner_superuser, "public_execute": fn.public_execute,
                   "search_path": path}
        if path is None:
            yield Hit(object=_function_ref(fn),
                      message=f"SECURITY DEFINER {fn.kind} {fn.schema}.{fn.name}({fn.arguments}) runs as {owner} "
                              "but resolves names through the caller's search_path: a caller who can create "
                              "objects on that path runs code with the owner's rights",
                      details=details, remediation=_definer_fix(fn, writable))
            continue
        if exposed:
            yield Hit(object=_function_ref(fn),
                      message=f"SECURITY DEFINER {fn.kind} {fn.schema}.{fn.name}({fn.arguments}) runs as {owner} "
                              f"with search_path = {path}, which includes {', '.join(exposed)}, where every role "
                              "may create objects",
                      details={**details, "writable_schemas": exposed}, remediation=_definer_fix(fn, writable))
        elif not entries or entries[-1] != "pg_temp":
            yield Hit(object=_function_ref(fn),
                      message=f"SECURITY DEFINER {fn.kind} {fn.schema}.{fn.name}({fn.arguments}) fixes search_path "
                              f"= {path} without pg_temp last: the caller's temporary tables are searched first "
                              "and can stand in for the tables it names",
                      details=details, remediation=_definer_fix(fn, writable, keep=entries),
                      severity=Severity.INFO)


def _function_ref(fn: DefinerFunction) -> ObjectRef:
    return ObjectRef(type="function", schema=fn.schema, function=f"{fn.name}({fn.arguments})")


def _definer_fix(fn: DefinerFunction, writable: set[str], keep: tuple[str, ...] = ()) -> str:
    """``ALTER FUNCTION ... SET search_path`` to the function's own schema (when safe) and pg_temp last."""
    if keep:
        path = [e for e in keep if e != "pg_temp" and e not in writable] or ["pg_catalog"]
    elif fn.schema not in writable:
        path = [fn.schema]
    else:
        path = ["pg_catalog"]
    shown = ", ".join(e if e == "$user" else pg_ident(e) for e in [*path, "pg_temp"])
    kind = "PROCEDURE" if fn.kind == "procedure" else "FUNCTION"
    statement = f"ALTER {kind} {pg_qualified(fn.schema, fn.name)}({fn.arguments}) SET search_path = {shown};"
    if path == ["pg_catalog"]:
        statement += f"  -- then qualify every name the body uses ({fn.schema} is writable by every role)" \
            if fn.schema in writable else "  -- then qualify every name the body uses"
    return statement


# ------------------------------------------------------------------------------------------------------------
# SC07 anonymous-user, SC08 empty-password, SC09 app-user-global-privileges (MySQL/MariaDB)
# ------------------------------------------------------------------------------------------------------------


def _account_ref(role: Role) -> ObjectRef:
    return ObjectRef(type="role", role=mysql_account(role.name, role.host or "%"))


@check(code="SC07", name="anonymous-user", severity=Severity.ERROR, engines=("mysql",),
       requires=(requires_posture(mysql=("roles",)),),
       not_applicable={"postgresql": "PostgreSQL has no anonymous roles"})
def anonymous_user(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """An account with an empty user name: anyone may connect through it.

    ## What it does
    Flags every account of mysql.user whose user name is empty (`''@'localhost'`, `''@'%'`).

    ## Why is this bad?
    An anonymous account accepts any user name. It also outranks named accounts with a less specific host:
    `app` connecting from localhost may be matched as `''@'localhost'` and lose its own privileges, or gain
    the anonymous ones. Old installers created such accounts for testing.

    ## Example
    ```sql
    CREATE USER ''@'localhost';
    ```

    ## Fix
    ```sql
    DROP USER ''@'localhost';
    ```

    ## References
    - MySQLTuner ("Remove Anonymous User accounts")
    - https://mariadb.com/kb/en/mariadb-secure-installation/
    """
    assert snap.posture is not None
    for role in snap.posture.roles or ():
        if role.name != "" or role.is_role:
            continue
        account = mysql_account("", role.host or "%")
        yield Hit(
            object=_account_ref(role),
            message=f"anonymous account {account}: any user name may connect through it, and it outranks named "
                    "accounts with a less specific host",
            details={"account": account, "password": role.password, "privileges": list(role.global_privileges)},
            remediation=f"DROP USER {account};",
        )


@check(code="SC08", name="empty-password", severity=Severity.ERROR, engines=("mysql",),
       requires=(requires_posture(mysql=("roles",)),),
       not_applicable={"postgresql": "PostgreSQL roles without a password cannot log in by password (see SC01)"})
def empty_password(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """An account that logs in without a password and without socket or PAM authentication.

    ## What it does
    Flags named accounts whose stored password is empty and whose authentication plugin asks for a password
    (the default `mysql_native_password`, `caching_sha2_password`, `ed25519`...). Accounts authenticated by
    the operating system (`unix_socket`, `auth_socket`, PAM, GSSAPI, LDAP), locked accounts, accounts with an
    expired password and roles are not findings; anonymous accounts are SC07's. MariaDB 10.4+ keeps ACCOUNT
    LOCK in mysql.global_priv: when the audit account may read mysql.user but not that table, locked accounts
    cannot be told apart, and every finding says so with the GRANT that settles it (a note too).

    ## Why is this bad?
    Anyone who can reach the server and guess the account name logs in, with every privilege the account has.

    ## Example
    ```sql
    CREATE USER 'report'@'%';
    ```

    ## Fix
    ```sql
    ALTER USER 'report'@'%' IDENTIFIED BY '<a new password>';
    ```
    or, for a local administrator, `IDENTIFIED VIA unix_socket` (MariaDB) / `IDENTIFIED WITH auth_socket`
    (MySQL).

    ## References
    - MySQLTuner ("User has no password set"; socket plugins excluded)
    - https://mariadb.com/kb/en/authentication-plugin-unix-socket/
    """
    assert snap.posture is not None
    locks_known = snap.posture.account_locks_known
    for role in snap.posture.roles or ():
        if role.name == "" or role.is_role or role.locked or role.password != "empty":
            continue
        if (role.plugin or "").lower() in NO_PASSWORD_PLUGINS:
            continue
        account = mysql_account(role.name, role.host or "%")
        caveat = ""
        if not locks_known:
            caveat = ("; unless it is locked: ACCOUNT LOCK is kept in mysql.global_priv, which the audit account "
                      f"may not read (GRANT SELECT ON mysql.global_priv TO {snap.posture.login} to know)")
        yield Hit(
            object=_account_ref(role),
            message=f"account {account} logs in without a password (plugin {role.plugin or 'mysql_native_password'})"
                    + (", with ALL PRIVILEGES on *.*" if role.all_privileges else "") + caveat,
            details={"account": account, "plugin": role.plugin or "", "all_privileges": role.all_privileges,
                     "locked": False if locks_known else "unknown"},
            remediation=f"ALTER USER {account} IDENTIFIED BY '<a new password>';",
        )


# the static privileges that may be granted on one schema (`db`.*); the others exist on *.* only
SCHEMA_PRIVILEGES = frozenset((
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES", "INDEX", "ALTER",
    "CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE",
    "ALTER ROUTINE", "EVENT", "TRIGGER",
))


@dataclass(frozen=True)
class AppUserGlobalPrivilegesOptions:
    min_data_statements: int = 1000  # data statements (SELECT/INSERT/UPDATE/DELETE...) that mark an application
    admin_accounts: tuple[str, ...] = ("root",)  # administrative by design, never flagged


@check(code="SC09", name="app-user-global-privileges", severity=Severity.ERROR, engines=("mysql",),
       options=AppUserGlobalPrivilegesOptions, requires=(requires_posture(mysql=("roles", "user_statements")),),
       not_applicable={"postgresql": "see SC04 (superuser-application-role)"})
def app_user_global_privileges(snap: Snapshot, opts: AppUserGlobalPrivilegesOptions) -> Iterator[Hit]:
    """An account that runs the application's statements holds ALL or GRANT OPTION on `*.*`.

    ## What it does
    Flags accounts with every static privilege on `*.*` (ALL PRIVILEGES) or with GRANT OPTION on `*.*`, when
    their user ran at least `min_data_statements` data statements (SELECT, INSERT, UPDATE, DELETE, REPLACE,
    LOAD DATA) since the server started (performance_schema). The administrative accounts
    (`admin_accounts`, by default `root`), the server's own accounts and dbaudit's own account are not judged.
    On MariaDB the privileges of the account's default role (`SET DEFAULT ROLE`, mysql.user `default_role`)
    and of the roles granted to that role (mysql.roles_mapping) count as the account's: the server activates
    them at login. A role granted but not default is active only once the session runs `SET ROLE`, so it is
    not counted, as the server does not count it at login; nor is a default role revoked since (the server
    ignores it). Without SELECT on mysql.roles_mapping the default role's own privileges still count, and the
    finding says that whether it is still granted is unknown (a note names the GRANT).

    ## Why is this bad?
    Whoever takes over the application (an SQL injection, a leaked configuration) then owns the whole
    server: every database, FILE to read and write server files, SUPER to change settings, and with GRANT
    OPTION the means to create further accounts.

    ## Example
    ```sql
    GRANT ALL PRIVILEGES ON *.* TO 'shop'@'%' WITH GRANT OPTION;
    ```

    ## Fix
    ```sql
    REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'shop'@'%';
    GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO 'shop'@'%';
    ```
    An account without ALL PRIVILEGES keeps exactly what it holds, moved to its schema, without GRANT OPTION
    (`REVOKE SELECT, GRANT OPTION ON *.* FROM 'report'@'%'; GRANT SELECT ON `shop`.* TO 'report'@'%';`).
    An account that holds them through its default role loses the role, which keeps its privileges for its
    other holders (`SET DEFAULT ROLE NONE FOR 'shop'@'%'; REVOKE `app_admin` FROM 'shop'@'%';`).

    ## Options
    - `min_data_statements` (default 1000): below, the account is taken for an administrator's.
    - `admin_accounts` (default ["root"]): user names never flagged.

    ## Known problems
    performance_schema counts statements per user name, not per account: accounts sharing a user name share
    the evidence. An account dbaudit itself runs as is not judged, since its own reads count too. An
    application that runs `SET ROLE` itself uses a role that is not its default: not seen. MySQL 8 roles
    (mysql.default_roles, `activate_all_roles_on_login`) are not resolved: only privileges granted to the
    account itself count there.

    ## References
    - https://dev.mysql.com/doc/refman/8.0/en/privileges-provided.html
    - MySQLTuner (users with ALL PRIVILEGES / SUPER)
    """
    assert snap.posture is not None
    dml = {s.user: s.dml for s in snap.posture.user_statements or ()}
    me = snap.posture.login
    database = snap.database or (snap.schemas[0] if len(snap.schemas) == 1 else None)
    for role in snap.posture.roles or ():
        if role.is_role or role.name in opts.admin_accounts or role.name in SYSTEM_ACCOUNTS or role.name == "":
            continue
        account = mysql_account(role.name, role.host or "%")
        if account == me or f"'{role.name}'@'{role.host}'" == me:
            continue
        # MariaDB: the default role and the roles granted to it are active from login
        via = [r for r in snap.posture.active_roles(role) if r.all_privileges or r.grant_option]
        all_privileges = role.all_privileges or any(r.all_privileges for r in via)
        grant_option = role.grant_option or any(r.grant_option for r in via)
        if not (all_privileges or grant_option):
            continue
        ran = dml.get(role.name, 0)
        if ran < opts.min_data_statements:
            continue
        held = "ALL PRIVILEGES" if all_privileges else ", ".join(_global_privileges(role, via)) or "USAGE"
        what = held + (" WITH GRANT OPTION" if grant_option else "")
        target = f"{mysql_ident(database)}.*" if database else "<database>.*"
        risk = ("which then controls the whole server" if all_privileges
                else "which can then hand its privileges on every database to any account")
        fixes: list[str] = []
        if role.all_privileges:
            fixes.append(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account};")
        elif role.grant_option:
            # only GRANT OPTION on top of some privileges: move what it holds to its schema, never add any
            local = [p for p in role.global_privileges if p in SCHEMA_PRIVILEGES]
            fixes.append(f"REVOKE {', '.join([*local, 'GRANT OPTION'])} ON *.* FROM {account};")
            if local and not via:
                fixes.append(f"GRANT {', '.join(local)} ON {target} TO {account};")
        how = caveat = ""
        if via:
            default = role.default_role or ""
            others = [mysql_ident(r.name) for r in via if r.name != default]
            how = f" through its default role {mysql_ident(default)}"
            if others:
                how += f" and the role{'s' if len(others) > 1 else ''} {', '.join(others)} granted to it"
            how += ", active from login,"
            if not snap.posture.role_grants_known:
                caveat = ("; whether that role is still granted is unknown: mysql.roles_mapping is not readable "
                          f"(GRANT SELECT ON mysql.roles_mapping TO {me} to know)")
            # the role keeps its privileges for whoever else holds it: take it away from this account only
            fixes.append(f"-- the role keeps its privileges for its other holders\n"
                         f"SET DEFAULT ROLE NONE FOR {account};\n"
                         f"REVOKE {mysql_ident(default)} FROM {account};")
        if all_privileges or via:
            fixes.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {target} TO {account};")
        yield Hit(
            object=_account_ref(role),
            message=f"account {account} holds {what} on *.*{how} and ran {ran:,} data statements: it serves an "
                    f"application, {risk}{caveat}",
            details={"account": account, "all_privileges": all_privileges, "grant_option": grant_option,
                     "data_statements": ran, "default_role": role.default_role,
                     "through_roles": [r.name for r in via]},
            remediation="\n".join(fixes),
        )


def _global_privileges(account: Role, roles: list[Role]) -> list[str]:
    """The static privileges on *.* an account holds itself and through its active roles, in mysql.user's order."""
    held: list[str] = []
    for source in (account, *roles):
        held.extend(p for p in source.global_privileges if p not in held)
    return held
