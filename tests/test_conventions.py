"""The conventions of a DBA's tools: ~/.my.cnf and the MYSQL_* variables like the mysql client, --help with
examples for both engines, a hint for an unquoted key=value DSN, and the published JSON Schema of the report."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from auditor.audit import AuditSettings, run_audit
from auditor.cli import main
from auditor.connectors import CollectOptions
from auditor.dsn import parse_dsn, read_my_cnf
from auditor.errors import DsnError
from reports import render
from tests.conftest import NewDb
from tests.mysql_support import MySqlServer, NewMySqlDb, mysql_new_db, mysql_server  # noqa: F401
from tests.test_reports import sample_report

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())
MYSQL_VARS = ("MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT", "MYSQL_PWD")


def _env(home: Path, **variables: str) -> dict[str, str]:
    return {"HOME": str(home), **variables}


def _cnf(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / ".my.cnf"
    path.write_text(text)
    path.chmod(mode)
    return path


# ---- ~/.my.cnf and MYSQL_* ---------------------------------------------------------------------------------------

def test_my_cnf_client_group_fills_what_the_url_leaves_out(tmp_path: Path) -> None:
    _cnf(tmp_path, "[mysqld]\nport = 9999\n\n[client]\nuser = app\npassword = \"p#ss word\"\nport=3307\n"
                   "host = db.internal  # the primary\nssl-mode = REQUIRED\n!includedir /etc/mysql/conf.d/\n")
    params = parse_dsn("mysql:///shop", _env(tmp_path)).params
    assert params == {"user": "app", "password": "p#ss word", "port": "3307", "host": "db.internal",
                      "ssl_mode": "required", "database": "shop"}
    assert parse_dsn("mysql:///shop", _env(tmp_path)).display == "mysql://app@db.internal:3307/shop"


def test_the_url_wins_over_my_cnf_which_wins_over_the_environment(tmp_path: Path) -> None:
    _cnf(tmp_path, "[client]\npassword = from-cnf\nport = 3307\n")
    env = _env(tmp_path, MYSQL_HOST="env-host", MYSQL_TCP_PORT="3308", MYSQL_PWD="from-env")
    assert parse_dsn("mysql://u:from-url@url-host:3309/db", env).params == {
        "user": "u", "password": "from-url", "host": "url-host", "port": "3309", "database": "db"}
    assert parse_dsn("mysql://u@/db", env).params == {
        "user": "u", "password": "from-cnf", "host": "env-host", "port": "3307", "database": "db"}
    (tmp_path / ".my.cnf").unlink()
    assert parse_dsn("mysql://u@/db", env).params == {
        "user": "u", "password": "from-env", "host": "env-host", "port": "3308", "database": "db"}


def test_a_url_with_a_host_takes_no_socket_from_elsewhere(tmp_path: Path) -> None:
    _cnf(tmp_path, "[client]\nsocket = /run/mysqld/mysqld.sock\n")
    assert "unix_socket" not in parse_dsn("mysql://u@db/x", _env(tmp_path)).params
    assert parse_dsn("mysql://u@/x", _env(tmp_path)).params["unix_socket"] == "/run/mysqld/mysqld.sock"
    unix = parse_dsn("mysql://u@/x", _env(tmp_path, MYSQL_HOST="h")).params
    assert unix.get("unix_socket") == "/run/mysqld/mysqld.sock" and "host" not in unix


def test_a_world_writable_my_cnf_is_ignored_like_the_mysql_client_does(tmp_path: Path) -> None:
    path = _cnf(tmp_path, "[client]\nhost = evil\n", mode=0o666)
    assert read_my_cnf(str(path)) == {}
    assert "host" not in parse_dsn("mysql://u@/x", _env(tmp_path)).params


def test_a_bad_port_from_the_environment_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DsnError, match="MYSQL_TCP_PORT"):
        parse_dsn("mysql://u@/x", _env(tmp_path, MYSQL_TCP_PORT="abc"))


def test_postgresql_dsns_ignore_the_mysql_conventions(tmp_path: Path) -> None:
    _cnf(tmp_path, "[client]\nhost = evil\n")
    assert parse_dsn("postgresql://u@db/x", _env(tmp_path, MYSQL_HOST="evil")).params == {
        "user": "u", "host": "db", "dbname": "x"}


def test_my_cnf_and_mysql_variables_log_in_to_a_real_server(mysql_server: MySqlServer,  # noqa: F811
                                                              mysql_new_db: NewMySqlDb,  # noqa: F811
                                                              tmp_path: Path) -> None:
    dsn = mysql_new_db("CREATE TABLE t (id INT PRIMARY KEY, note TEXT)")
    params = parse_dsn(dsn).params
    if "port" not in params:
        pytest.skip("the test server listens on a socket only")
    database = params["database"]
    user, password = f"cnf_{uuid.uuid4().hex[:8]}", "S3cret#pw;"
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT SELECT, SHOW VIEW, PROCESS ON *.* TO '{user}'@'%'")
    try:
        home = tmp_path / "home"
        home.mkdir()
        _cnf(home, f"[client]\nuser = {user}\npassword = \"{password}\"\nport = {params['port']}\n")
        env = {k: v for k, v in os.environ.items() if k not in MYSQL_VARS}
        base = [sys.executable, "-m", "auditor", "scan", "--format", "json", "--fail-on", "never",
                "--no-sample", "--no-workload"]
        # everything but the host and the database comes from ~/.my.cnf
        done = subprocess.run([*base, f"mysql://{params.get('host', '127.0.0.1')}/{database}"],
                              capture_output=True, text=True, timeout=120, env={**env, "HOME": str(home)})
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["target"]["dsn"].startswith(f"mysql://{user}@")
        assert password not in done.stdout + done.stderr
        # the environment alone: MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_PWD (the user in the URL)
        bare = tmp_path / "bare"
        bare.mkdir()
        done = subprocess.run([*base, f"mysql://{user}@/{database}"], capture_output=True, text=True, timeout=120,
                              env={**env, "HOME": str(bare), "MYSQL_HOST": params.get("host", "127.0.0.1"),
                                   "MYSQL_TCP_PORT": params["port"], "MYSQL_PWD": password})
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["target"]["database"] == database
        # a wrong MYSQL_PWD is refused like any wrong password, without echoing it
        done = subprocess.run([*base, f"mysql://{user}@/{database}"], capture_output=True, text=True, timeout=120,
                              env={**env, "HOME": str(bare), "MYSQL_HOST": params.get("host", "127.0.0.1"),
                                   "MYSQL_TCP_PORT": params["port"], "MYSQL_PWD": "wrong-pw-123"})
        assert done.returncode == 2 and "wrong-pw-123" not in done.stderr and len(done.stderr.splitlines()) == 1
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")


# ---- --help and the unquoted DSN ---------------------------------------------------------------------------------

def test_scan_help_has_examples_for_both_engines() -> None:
    result = CliRunner().invoke(main, ["scan", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "dbaudit scan postgresql://" in result.output and "dbaudit scan mysql://" in result.output
    assert "~/.my.cnf" in result.output and "MYSQL_PWD" in result.output


def test_an_unquoted_key_value_dsn_gets_a_hint_to_quote_it() -> None:
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", "host=db.internal", "dbname=shop", "user=app",
                           "password=Hunter2-secret"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert 'quote it, e.g. dbaudit scan "host=db.internal dbname=shop user=app"' in lines[0]
    assert "Hunter2-secret" not in done.stderr and "Traceback" not in done.stderr


def test_other_extra_arguments_get_no_dsn_hint() -> None:
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", "postgresql://h/db", "extra"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "quote" not in done.stderr


# ---- docs/report.schema.json ---------------------------------------------------------------------------------

def _validate(text: str) -> dict[str, Any]:
    data = json.loads(text)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)
    return data


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["format_version"] == {"const": 1}


def test_the_golden_report_follows_the_schema() -> None:
    _validate((ROOT / "tests" / "golden" / "report.json").read_text())
    _validate(render(sample_report(), "json"))


def test_the_schema_rejects_what_breaks_the_contract() -> None:
    good = json.loads(render(sample_report(), "json"))
    for broken in ({**good, "format_version": 2}, {k: v for k, v in good.items() if k != "findings"},
                   {**good, "findings": [{**good["findings"][0], "severity": "fatal"}]},
                   {**good, "findings": [{**good["findings"][0], "object": {"type": "table", "colour": "x"}}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_a_real_postgresql_report_follows_the_schema(pg_new_db: NewDb, tmp_path: Path) -> None:
    from demo.run_demo import drive, seed

    dsn = pg_new_db()
    seed(dsn)
    drive(dsn)
    report = run_audit(dsn, AuditSettings())
    data = _validate(render(report, "json"))
    assert data["findings"] and data["quality"]
    # with a baseline and a suppression too
    baseline = tmp_path / "baseline.json"
    run_audit(dsn, AuditSettings(baseline=str(baseline), update_baseline=True,
                                 collect=CollectOptions(sample=False, workload=False)))
    compared = run_audit(dsn, AuditSettings(baseline=str(baseline), collect=CollectOptions(sample=False,
                                                                                         workload=False)))
    assert _validate(render(compared, "json"))["baseline"] is not None
    fewer = dataclasses.replace(compared, suppressed=report.suppressed)
    _validate(render(fewer, "json"))


def test_a_real_mariadb_report_follows_the_schema(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    dsn = mysql_new_db("CREATE TABLE parent (id INT PRIMARY KEY);"
                       "CREATE TABLE child (id INT, parent_id INT, KEY (id));"
                       "INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1, 1), (2, 2);"
                       "SELECT * FROM child WHERE parent_id = 1")
    data = _validate(render(run_audit(dsn, AuditSettings()), "json"))
    assert data["target"]["engine"] == "mysql"
    assert any(f["code"] == "KY01" for f in data["findings"])


# ---- the README ------------------------------------------------------------------------------------------------

def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_contents_link_to_its_headings_and_requirements_come_before_options() -> None:
    text = (ROOT / "README.md").read_text()
    headings = re.findall(r"^#{2,3} (.+)$", text, re.M)
    anchors = {_anchor(h) for h in headings}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links and not [link for link in links if link not in anchors]
    order = [h for h in headings if h in ("Contents", "Quick start", "What dbaudit needs from the server",
                                          "Options")]
    assert order == ["Contents", "Quick start", "What dbaudit needs from the server", "Options"]
    needs = text[text.index("## What dbaudit needs"):text.index("## Options")]
    assert "pg_stat_statements" in needs and "performance_schema" in needs and "GRANT" in needs
