"""Security checks on small snapshots: each fires, stays silent on its look-alike, and has its edge."""

from __future__ import annotations

import dataclasses

from auditor.engine import iter_hits, load_checks, unmet_precondition
from auditor.model import Hit, Note, Severity, Snapshot, Statement, WorkloadInfo
from auditor.operations import LOCAL, LOOPBACK, REMOTE, Activity, Backend
from auditor.posture import (
    HBA_AREA,
    PASSWORDS_AREA,
    ROLES_AREA,
    DefinerFunction,
    HbaRule,
    Role,
    RoleSetting,
    SchemaPrivileges,
    ServerSetting,
    UserStatements,
)
from checks.security import (
    AppUserGlobalPrivilegesOptions,
    SuperuserApplicationRoleOptions,
    WeakAuthenticationOptions,
)
from tests.builders import pg_settings, posture, snap, table

SPECS = load_checks()


def hits(code: str, s: Snapshot, opts: object = None) -> list[Hit]:
    spec = SPECS[code]
    assert unmet_precondition(spec, s) is None, unmet_precondition(spec, s)
    return list(iter_hits(spec, s, opts))


# ---- SC01 ----------------------------------------------------------------------------------------------------


def _hba(*rules: HbaRule) -> Snapshot:
    return snap(posture=posture(hba_rules=rules))


def test_sc01_trust_is_an_error_and_password_a_warning() -> None:
    rules = (
        HbaRule(1, "local", ("all",), ("postgres",), method="peer"),
        HbaRule(2, "local", ("all",), ("all",), method="trust"),
        HbaRule(3, "host", ("all",), ("all",), "10.0.0.0", "255.0.0.0", "trust"),
        HbaRule(4, "host", ("app",), ("app",), "192.168.1.0", "255.255.255.0", "password"),
        HbaRule(5, "hostssl", ("all",), ("all",), "0.0.0.0", "0.0.0.0", "scram-sha-256"),
    )
    found = hits("SC01", _hba(*rules))
    assert [h.object.rule for h in found] == ["pg_hba.conf line 2", "pg_hba.conf line 3", "pg_hba.conf line 4"]
    assert [h.severity for h in found] == [None, None, Severity.WARNING]
    assert "every OS user of the machine" in found[0].message
    assert '"host all all 10.0.0.0/8 trust" trusts every client from 10.0.0.0/8' in found[1].message
    assert found[1].remediation == ("-- pg_hba.conf line 3: host all all 10.0.0.0/8 scram-sha-256\n"
                                    "SELECT pg_reload_conf();")
    assert "clear text" in found[2].message


def test_sc01_local_rules_for_the_postgres_os_user_are_not_flagged() -> None:
    rules = (HbaRule(1, "local", ("all",), ("postgres",), method="trust"),
             HbaRule(2, "local", ("all",), ("postgres",), method="peer"),
             HbaRule(3, "host", ("all",), ("postgres",), "127.0.0.1", "255.255.255.255", "trust"),
             HbaRule(9, "host", ("all",), ("all",), method="trust", error="invalid"))
    found = hits("SC01", _hba(*rules))
    assert [h.object.rule for h in found] == ["pg_hba.conf line 3"]  # TCP, even on loopback
    assert "every process of the machine" in found[0].message
    assert len(hits("SC01", _hba(*rules), WeakAuthenticationOptions(trusted_local_users=()))) == 2


def test_sc01_is_skipped_with_the_grant_when_pg_hba_file_rules_is_closed() -> None:
    s = snap(posture=posture(hba_rules=None),
             notes=(Note(HBA_AREA, "superusers only", enable="GRANT SELECT ON pg_catalog.pg_hba_file_rules TO a"),))
    unmet = unmet_precondition(SPECS["SC01"], s)
    assert unmet is not None and unmet.enable == "GRANT SELECT ON pg_catalog.pg_hba_file_rules TO a"


# ---- SC02 ----------------------------------------------------------------------------------------------------


def test_sc02_md5_roles_and_setting() -> None:
    roles = (Role("legacy", password="md5"), Role("app", password="scram-sha-256"), Role("nopw", password="none"),
             Role("grp", login=False, password="md5"))
    s = snap(posture=posture(settings=pg_settings(password_encryption="md5"), roles=roles, passwords_known=True))
    found = hits("SC02", s)
    assert [h.object.label() for h in found] == ["password_encryption", "legacy"]
    assert "ALTER ROLE legacy PASSWORD '<the new password>';" in (found[1].remediation or "")


def test_sc02_scram_roles_are_silent() -> None:
    roles = (Role("app", password="scram-sha-256"),)
    assert hits("SC02", snap(posture=posture(roles=roles, passwords_known=True))) == []


def test_sc02_without_pg_authid_judges_only_the_setting_or_skips() -> None:
    roles = (Role("legacy", password=None),)
    note = Note(PASSWORDS_AREA, "pg_authid is readable by superusers only", enable="run dbaudit as a superuser")
    fine = snap(posture=posture(roles=roles, passwords_known=False), notes=(note,))
    unmet = unmet_precondition(SPECS["SC02"], fine)
    assert unmet is not None and unmet.enable == "run dbaudit as a superuser"
    md5 = snap(posture=posture(settings=pg_settings(password_encryption="md5"), roles=roles), notes=(note,))
    assert [h.object.label() for h in hits("SC02", md5)] == ["password_encryption"]


# ---- SC03 ----------------------------------------------------------------------------------------------------


def test_sc03_public_create_fires_and_a_named_grantee_does_not() -> None:
    privs = (SchemaPrivileges("public", "postgres", public_create=True, public_usage=True),
             SchemaPrivileges("reporting", "postgres", create_grantees=("report_writer",)),
             SchemaPrivileges("Odd Name", "postgres", public_create=True))
    found = hits("SC03", snap(posture=posture(schema_privileges=privs)))
    assert [h.remediation for h in found] == ["REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
                                              'REVOKE CREATE ON SCHEMA "Odd Name" FROM PUBLIC;']


# ---- SC05 ----------------------------------------------------------------------------------------------------


def _fn(name: str, *config: str, schema: str = "app", kind: str = "function") -> DefinerFunction:
    return DefinerFunction(schema, name, "integer", kind=kind, owner="postgres", owner_superuser=True,
                           config=config)


def test_sc05_definer_without_search_path_fires_with_a_fix_in_its_schema() -> None:
    s = snap(posture=posture(definer_functions=(_fn("touch"), _fn("run", kind="procedure")),
                             schema_privileges=(SchemaPrivileges("app", "postgres"),)))
    found = hits("SC05", s)
    assert [h.object.label() for h in found] == ["app.touch(integer)", "app.run(integer)"]
    assert found[0].remediation == "ALTER FUNCTION app.touch(integer) SET search_path = app, pg_temp;"
    assert found[1].remediation == "ALTER PROCEDURE app.run(integer) SET search_path = app, pg_temp;"
    assert "(a superuser)" in found[0].message


def test_sc05_safe_paths_are_silent_and_writable_or_pg_temp_first_are_not() -> None:
    privs = (SchemaPrivileges("app", "postgres"), SchemaPrivileges("public", "postgres", public_create=True))
    functions = (
        _fn("safe1", "search_path=pg_catalog, pg_temp"),
        _fn("safe2", "search_path=app, pg_temp"),
        _fn("exposed", "search_path=public, pg_temp"),
        _fn("temp_first", "search_path=app"),
    )
    found = {h.object.function: h for h in hits("SC05", snap(posture=posture(definer_functions=functions,
                                                                             schema_privileges=privs)))}
    assert set(found) == {"exposed(integer)", "temp_first(integer)"}
    assert found["exposed(integer)"].severity is None and "where every role may create" in found[
        "exposed(integer)"].message
    assert found["temp_first(integer)"].severity is Severity.INFO
    assert found["temp_first(integer)"].remediation == \
        "ALTER FUNCTION app.temp_first(integer) SET search_path = app, pg_temp;"


def test_sc05_function_in_a_public_writable_schema_gets_pg_catalog_and_a_warning_to_qualify() -> None:
    privs = (SchemaPrivileges("public", "postgres", public_create=True),)
    (h,) = hits("SC05", snap(posture=posture(definer_functions=(_fn("f", schema="public"),),
                                             schema_privileges=privs)))
    assert h.remediation is not None
    assert h.remediation.startswith("ALTER FUNCTION public.f(integer) SET search_path = pg_catalog, pg_temp;")
    assert "qualify every name" in h.remediation


# ---- SC07 / SC08 / SC09 --------------------------------------------------------------------------------------


def _accounts(*roles: Role, statements: tuple[UserStatements, ...] | None = None,
              login: str = "'dbaudit'@'%'") -> Snapshot:
    return snap(engine="mysql", database="shop",
                posture=posture(settings=None, roles=roles, passwords_known=True, user_statements=statements,
                                login=login))


def test_sc07_anonymous_accounts() -> None:
    found = hits("SC07", _accounts(Role("", host="localhost", password="empty"), Role("app", host="%")))
    assert [h.remediation for h in found] == ["DROP USER ''@'localhost';"]


def test_sc08_empty_password_but_not_socket_locked_or_roles() -> None:
    roles = (
        Role("report", host="%", plugin="mysql_native_password", password="empty"),
        Role("o'brien", host="10.%", plugin="", password="empty"),
        Role("admin", host="localhost", plugin="unix_socket", password="empty"),
        Role("ops", host="localhost", plugin="auth_socket", password="empty"),
        Role("mariadb.sys", host="localhost", plugin="mysql_native_password", password="empty", locked=True),
        Role("app_role", host="", password="empty", is_role=True, login=False),
        Role("", host="localhost", password="empty"),
        Role("app", host="%", plugin="mysql_native_password", password="set"),
    )
    found = hits("SC08", _accounts(*roles))
    assert [h.object.role for h in found] == ["'report'@'%'", "'o''brien'@'10.%'"]
    assert found[1].remediation == "ALTER USER 'o''brien'@'10.%' IDENTIFIED BY '<a new password>';"


def test_sc09_app_account_with_global_privileges_but_not_root_or_idle_admins() -> None:
    roles = (
        Role("shop", host="%", all_privileges=True, global_privileges=("SELECT",), grant_option=True),
        Role("root", host="localhost", all_privileges=True, grant_option=True),
        Role("dba", host="%", all_privileges=True),
        Role("report", host="%", global_privileges=("SELECT",)),
        Role("deployer", host="%", grant_option=True, global_privileges=("CREATE",)),
    )
    statements = (UserStatements("shop", dml=5000), UserStatements("root", dml=90000),
                  UserStatements("dba", dml=999), UserStatements("report", dml=50000),
                  UserStatements("deployer", dml=1000))
    found = hits("SC09", _accounts(*roles, statements=statements))
    assert [h.object.role for h in found] == ["'shop'@'%'", "'deployer'@'%'"]
    assert "ALL PRIVILEGES WITH GRANT OPTION" in found[0].message
    assert found[0].remediation == ("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'shop'@'%';\n"
                                    "GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO 'shop'@'%';")
    # GRANT OPTION without ALL: says what it holds, and the fix adds no privilege it did not have
    assert "CREATE WITH GRANT OPTION on *.*" in found[1].message
    assert "whole server" not in found[1].message
    assert found[1].remediation == ("REVOKE CREATE, GRANT OPTION ON *.* FROM 'deployer'@'%';\n"
                                    "GRANT CREATE ON `shop`.* TO 'deployer'@'%';")
    # the edge of the evidence option
    opts = AppUserGlobalPrivilegesOptions(min_data_statements=1001)
    assert [h.object.role for h in hits("SC09", _accounts(*roles, statements=statements), opts)] == ["'shop'@'%'"]


def test_sc09_select_with_grant_option_is_narrowed_without_new_rights() -> None:
    roles = (Role("report", host="%", global_privileges=("SELECT",), grant_option=True),
             Role("ops", host="%", global_privileges=("SELECT", "PROCESS"), grant_option=True),
             Role("bare", host="%", grant_option=True))
    statements = tuple(UserStatements(r.name, dml=5000) for r in roles)
    found = {h.object.role: h for h in hits("SC09", _accounts(*roles, statements=statements))}
    report = found["'report'@'%'"]
    assert "holds SELECT WITH GRANT OPTION on *.*" in report.message and "whole server" not in report.message
    assert report.remediation == ("REVOKE SELECT, GRANT OPTION ON *.* FROM 'report'@'%';\n"
                                  "GRANT SELECT ON `shop`.* TO 'report'@'%';")
    # PROCESS exists on *.* only: left in place, not moved
    assert found["'ops'@'%'"].remediation == ("REVOKE SELECT, GRANT OPTION ON *.* FROM 'ops'@'%';\n"
                                              "GRANT SELECT ON `shop`.* TO 'ops'@'%';")
    assert found["'bare'@'%'"].remediation == "REVOKE GRANT OPTION ON *.* FROM 'bare'@'%';"


def test_sc09_does_not_judge_the_audit_account_itself() -> None:
    roles = (Role("dbaudit", host="%", all_privileges=True),)
    assert hits("SC09", _accounts(*roles, statements=(UserStatements("dbaudit", dml=10**6),))) == []


def test_mysql_account_checks_skip_without_mysql_user() -> None:
    note = Note(ROLES_AREA, "accounts not read: mysql.user is not readable",
                enable="GRANT SELECT ON mysql.user TO 'audit'@'%'")
    s = snap(engine="mysql", posture=posture(settings=None, roles=None), notes=(note,))
    for code in ("SC07", "SC08", "SC09"):
        unmet = unmet_precondition(SPECS[code], s)
        assert unmet is not None and unmet.enable == "GRANT SELECT ON mysql.user TO 'audit'@'%'", code


# ---- SC04 ----------------------------------------------------------------------------------------------------


def _stmt(query: str, users: dict[str, int], toplevel: bool = True) -> Statement:
    return Statement(queryid=str(abs(hash(query)) % 10**9), query=query, calls=sum(users.values()),
                     users=users, toplevel=toplevel)


def _session(user: str, app: str = "", client: str = LOOPBACK, ssl: bool | None = False, pid: int = 0,
             addr: str | None = "127.0.0.1", is_self: bool = False) -> Backend:
    return Backend(pid=pid, user=user, application_name=app, backend_type="client backend", client=client,
                   client_addr=addr, ssl=ssl, is_self=is_self)


_SUPERS = (Role("postgres", superuser=True), Role("admin", superuser=True), Role("reader", member_of=(
    "pg_read_all_data",)), Role("shop"))


def _sc04(*statements: Statement, sessions: tuple[Backend, ...] = (), status: str = "ok") -> Snapshot:
    t = table("orders", schema="app")
    return snap(t, schemas=("app",), database="shop", statements=statements,
                workload=WorkloadInfo(status=status), activity=Activity(backends=sessions),
                posture=posture(roles=_SUPERS))


def test_sc04_a_superuser_running_the_application_is_an_error() -> None:
    s = _sc04(_stmt("SELECT id FROM app.orders WHERE id = $1", {"postgres": 4000, "shop": 100}),
              _stmt("UPDATE app.orders SET total = $1 WHERE id = $2", {"postgres": 500}),
              _stmt("VACUUM app.orders", {"admin": 3}),
              _stmt("SELECT count(*) FROM pg_class", {"admin": 5000}))
    (h,) = hits("SC04", s)
    assert h.object.role == "postgres" and h.severity is None
    assert "2 data statements (4,500 calls)" in h.message and "SELECT id FROM app.orders" in h.message
    assert h.remediation is not None and h.remediation.startswith("CREATE ROLE shop_app LOGIN")
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO shop_app;" in h.remediation


def test_sc04_fix_never_creates_a_role_that_exists() -> None:
    """rt18: the superuser serving the application was named shop_app, and the fix began with CREATE ROLE
    shop_app, which the server refused; the new role takes the next free name."""
    stmts = (_stmt("SELECT id FROM app.orders WHERE id = $1", {"shop_app": 4000}),)
    s = dataclasses.replace(_sc04(*stmts), posture=posture(roles=(*_SUPERS, Role("shop_app", superuser=True),
                                                                   Role("shop_app2"))))
    (h,) = hits("SC04", s)
    assert h.object.role == "shop_app"
    assert (h.remediation or "").startswith("CREATE ROLE shop_app3 LOGIN")
    assert "TO shop_app3;" in (h.remediation or "") and "TO shop_app;" not in (h.remediation or "")


def test_sc04_fix_bounds_the_new_role_where_nothing_else_does() -> None:
    """rt16: the role SC04's fix creates was then flagged by ST05; the fix sets the timeouts ST05 proposes, only
    those the database or the server leaves off."""
    stmts = (_stmt("SELECT id FROM app.orders WHERE id = $1", {"postgres": 4000}),)
    (h,) = hits("SC04", _sc04(*stmts))
    assert "ALTER ROLE shop_app SET statement_timeout = '60s';\n" \
           "ALTER ROLE shop_app SET idle_in_transaction_session_timeout = '10min';" in (h.remediation or "")
    bounded = dataclasses.replace(_sc04(*stmts), posture=posture(roles=_SUPERS, settings=pg_settings(
        statement_timeout="30s")))
    (h,) = hits("SC04", bounded)
    assert "statement_timeout" not in (h.remediation or "").replace("idle_in_transaction_session_timeout", "")
    assert "ALTER ROLE shop_app SET idle_in_transaction_session_timeout = '10min';" in (h.remediation or "")
    # what ST05 would say of the new role once created as the fix prints it: nothing
    created = dataclasses.replace(bounded, posture=posture(
        roles=(*_SUPERS, Role("shop_app")), settings=pg_settings(statement_timeout="30s"),
        role_settings=(RoleSetting(role="shop_app", database=None,
                                   settings={"idle_in_transaction_session_timeout": "10min"}),)))
    assert [x for x in hits("ST05", created) if x.object.role == "shop_app"] == []
    assert [x.object.role for x in hits("ST05", dataclasses.replace(created, posture=posture(
        roles=(*_SUPERS, Role("shop_app")), settings=pg_settings(statement_timeout="30s"), role_settings=())))] \
        == ["reader", "shop", "shop_app"]


def test_sc04_maintenance_only_admins_and_pg_read_all_data_roles_are_silent() -> None:
    s = _sc04(_stmt("VACUUM (ANALYZE) app.orders", {"admin": 50}),
              _stmt("CREATE INDEX CONCURRENTLY o_idx ON app.orders (total)", {"admin": 1}),
              _stmt("COPY app.orders (id, total) TO stdout", {"postgres": 40}),
              _stmt("SELECT * FROM app.orders WHERE id = $1", {"reader": 90000, "admin": 999}),
              sessions=tuple(_session("admin", "psql", pid=i) for i in range(8)))
    assert hits("SC04", s) == []


def test_sc04_sessions_of_a_pool_count_as_evidence_and_the_edges() -> None:
    pool = tuple(_session("postgres", "shop-web", pid=i) for i in range(5))
    (h,) = hits("SC04", _sc04(sessions=pool))
    assert "holds 5 client sessions now (shop-web)" in h.message
    assert hits("SC04", _sc04(sessions=pool[:4])) == []
    s = _sc04(_stmt("SELECT id FROM app.orders WHERE id = $1", {"postgres": 999}))
    assert hits("SC04", s) == []
    assert len(hits("SC04", s, SuperuserApplicationRoleOptions(min_app_calls=999))) == 1


def test_sc04_is_skipped_when_neither_statements_nor_sessions_are_fully_visible() -> None:
    s = snap(posture=posture(roles=_SUPERS), workload=WorkloadInfo(status="no_privilege", message="hidden"),
             activity=Activity(complete=False, reason="no pg_read_all_stats", enable="GRANT pg_read_all_stats TO a"))
    unmet = unmet_precondition(SPECS["SC04"], s)
    assert unmet is not None and unmet.enable == "GRANT pg_read_all_stats TO a"


# ---- SC06 ----------------------------------------------------------------------------------------------------


def test_sc06_ssl_off_on_a_networked_server_and_remote_plain_sessions() -> None:
    settings = pg_settings() + (ServerSetting("ssl", "off", boot_value="off", context="sighup"),
                                ServerSetting("listen_addresses", "*", boot_value="localhost", context="postmaster"))
    sessions = (_session("shop", client=REMOTE, addr="10.0.0.5", pid=1),
                _session("shop", client=REMOTE, addr="10.0.0.6", pid=2),
                _session("shop", client=REMOTE, addr="10.0.0.7", ssl=True, pid=3),
                _session("admin", client=LOOPBACK, pid=4), _session("admin", client=LOCAL, addr=None, pid=5))
    found = hits("SC06", snap(posture=posture(settings=settings), activity=Activity(backends=sessions)))
    assert [h.object.label() for h in found] == ["ssl", "shop"]
    assert "listens on *" in found[0].message
    assert "2 session(s) of shop from 10.0.0.5, 10.0.0.6" in found[1].message


def test_sc06_loopback_only_servers_and_local_sessions_are_silent() -> None:
    settings = pg_settings() + (ServerSetting("ssl", "off", boot_value="off"),
                                ServerSetting("listen_addresses", "localhost, 127.0.0.1, ::1", boot_value="localhost"))
    sessions = (_session("admin", client=LOOPBACK, pid=4), _session("admin", client=LOCAL, addr=None, pid=5),
                _session("hidden", client=None, ssl=None, addr=None, pid=6))
    assert hits("SC06", snap(posture=posture(settings=settings), activity=Activity(backends=sessions))) == []


def test_sc06_mysql_have_ssl_and_require_ssl_fix() -> None:
    roles = (Role("shop", host="10.%", password="set"),)
    sessions = (Backend(pid=1, user="shop", backend_type="client", client=REMOTE, client_addr="10.0.0.5", ssl=False),)
    s = snap(engine="mysql", settings={"have_ssl": "DISABLED", "bind_address": "0.0.0.0", "skip_networking": "OFF"},
             posture=posture(settings=None, roles=roles), activity=Activity(backends=sessions))
    found = hits("SC06", s)
    assert [h.object.label() for h in found] == ["have_ssl", "'shop'@'10.%'"]
    assert found[1].remediation == "ALTER USER 'shop'@'10.%' REQUIRE SSL;"
    quiet = snap(engine="mysql", settings={"have_ssl": "DISABLED", "bind_address": "127.0.0.1"},
                 posture=posture(settings=None), activity=Activity())
    assert hits("SC06", quiet) == []
