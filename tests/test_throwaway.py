"""The throwaway servers the suite, the demo and the bench stand on."""

from __future__ import annotations

import os

import psycopg
import pytest

from auditor.throwaway import (
    PASSWORD_ROLE,
    PostgresServer,
    embedded_bin_dir,
    free_port,
    start_postgres,
    system_bin_dir,
)
from tests.conftest import NewDb, PgServer


def test_server_answers_on_its_port(pg_server: PgServer) -> None:
    assert f":{pg_server.port}/" in pg_server.dsn()
    with psycopg.connect(pg_server.dsn()) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int, current_user").fetchone()
    assert row == (pg_server.version_num, "postgres")
    assert pg_server.version_num >= 100000


def test_pg_stat_statements_is_preloaded_and_records(pg_new_db: NewDb) -> None:
    dsn = pg_new_db("CREATE EXTENSION pg_stat_statements; CREATE TABLE marker_table (id int)")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM marker_table WHERE id = %s", (42,))
        rows = conn.execute(
            "SELECT query, calls FROM pg_stat_statements "
            "WHERE query LIKE '%marker_table%' AND query LIKE 'SELECT count%'"
        ).fetchall()
    assert len(rows) == 1
    assert "WHERE id = $1" in rows[0][0]
    assert rows[0][1] >= 1


def test_hypopg_creates_hypothetical_indexes_when_available(pg_server: PgServer, pg_new_db: NewDb) -> None:
    if not pg_server.has_hypopg:
        pytest.skip("hypopg is not installed for these PostgreSQL binaries")
    dsn = pg_new_db("CREATE EXTENSION hypopg; CREATE TABLE t (a int)")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM hypopg_create_index('CREATE INDEX ON t (a)')").fetchone()
    assert row == (1,)


def test_new_databases_are_isolated(pg_new_db: NewDb) -> None:
    first = pg_new_db("CREATE TABLE only_here (id int PRIMARY KEY); INSERT INTO only_here VALUES (1), (2)")
    second = pg_new_db()
    assert first != second
    with psycopg.connect(first) as conn:
        assert conn.execute("SELECT count(*) FROM only_here").fetchone() == (2,)
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('only_here') IS NULL").fetchone() == (True,)


def test_new_database_takes_the_given_name(pg_new_db: NewDb) -> None:
    dsn = pg_new_db("SELECT 1", name="Odd Name")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("Odd Name",)


def test_password_role_must_authenticate(pg_server: PgServer, pg_new_db: NewDb) -> None:
    if not isinstance(pg_server, PostgresServer):
        pytest.skip("pg_hba is only ours on a server the suite started (DBAUDIT_TEST_PG_DSN is set)")
    dsn = pg_new_db()
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")
        conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right-one'")
    try:
        target = dsn.replace("postgres@", f"{PASSWORD_ROLE}:wrong-one@", 1)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(target, connect_timeout=5)
        with psycopg.connect(target.replace("wrong-one", "right-one"), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (PASSWORD_ROLE,)
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize("prefer", ["system", "embedded"])
def test_start_and_stop_removes_everything(prefer: str) -> None:
    available = system_bin_dir() if prefer == "system" else embedded_bin_dir()
    if available is None:
        pytest.skip(f"no {prefer} PostgreSQL binaries on this machine")
    with start_postgres(prefer) as server:
        assert server.bin_dir == available
        assert server.start_seconds < 30
        with psycopg.connect(server.dsn()) as conn:
            row = conn.execute("SELECT current_setting('shared_preload_libraries'), "
                               "current_setting('fsync'), current_setting('listen_addresses')").fetchone()
        assert row is not None
        assert "pg_stat_statements" in row[0] and row[1] == "off" and row[2] == "127.0.0.1"
        base_dir = server.base_dir
        assert server.log_path.exists()
    assert not os.path.exists(base_dir)
    assert not server.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn(), connect_timeout=2)
