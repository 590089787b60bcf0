"""Fixtures for the MySQL/MariaDB tests: a throwaway MariaDB for the session and fresh databases per test.

Import them into a test module with ``from tests.mysql_support import mysql_server, mysql_new_db  # noqa``.
``DBAUDIT_TEST_MYSQL_DSN`` (e.g. ``mysql://root@127.0.0.1:3306/``) points the suite at an existing server with
performance_schema ON instead; nothing is started or stopped then. Where no MariaDB/MySQL binary exists and no
such DSN is set, the MySQL tests skip, saying so.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import pymysql
import pytest

from auditor.dsn import parse_dsn
from auditor.throwaway_mysql import MariaDbServer, find_mariadb, start_mariadb

NO_SERVER_BINARY = "no MariaDB/MySQL server binary on this machine (apt-get install mariadb-server)"
NO_BINARY = NO_SERVER_BINARY + " and no DBAUDIT_TEST_MYSQL_DSN"


@dataclass
class ExistingMySql:
    """An existing server named by DBAUDIT_TEST_MYSQL_DSN."""

    url: str

    def dsn(self, database: str = "", user: str | None = None, password: str | None = None) -> str:
        p = parse_dsn(self.url).params
        user = p.get("user", "root") if user is None else user
        password = p.get("password", "") if password is None else password
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        if p.get("unix_socket"):
            where = quote(p["unix_socket"], safe="")
        else:
            host = p.get("host", "127.0.0.1")
            where = (f"[{host}]" if ":" in host else host) + f":{p.get('port', '3306')}"
        return f"mysql://{auth}@{where}/{quote(database, safe='')}"

    def connect(self, database: str | None = None) -> pymysql.connections.Connection[Any]:
        p = parse_dsn(self.url).params
        kwargs: dict[str, Any] = {
            "user": p.get("user", "root"), "password": p.get("password", ""), "database": database,
            "autocommit": True, "charset": "utf8mb4",
            "client_flag": pymysql.constants.CLIENT.MULTI_STATEMENTS,
        }
        if p.get("unix_socket"):
            kwargs["unix_socket"] = p["unix_socket"]
        else:
            kwargs["host"], kwargs["port"] = p.get("host", "127.0.0.1"), int(p.get("port", "3306"))
        return pymysql.connect(**kwargs)

    def stop(self) -> None:
        pass


MySqlServer = MariaDbServer | ExistingMySql


class NewMySqlDb(Protocol):
    def __call__(self, sql: str = "", name: str | None = None) -> str: ...


def run_script(conn: pymysql.connections.Connection[Any], sql: str) -> None:
    """Run many statements in one round trip (MULTI_STATEMENTS) and drain every result."""
    if not sql.strip():
        return
    with conn.cursor() as cur:
        cur.execute(sql)
        while cur.nextset():
            pass


_counter = itertools.count(1)
_run_id = uuid.uuid4().hex[:6]
_created: list[str] = []  # databases made on an external server, dropped at the end of the session


def _drop_created(server: ExistingMySql) -> None:
    if not _created:
        return
    with server.connect() as conn, conn.cursor() as cur:
        for name in _created:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    _created.clear()


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MySqlServer]:
    """A MariaDB server with performance_schema ON for the whole session (or DBAUDIT_TEST_MYSQL_DSN)."""
    external = os.environ.get("DBAUDIT_TEST_MYSQL_DSN", "").strip()
    if external:
        existing = ExistingMySql(external)
        try:
            yield existing
        finally:
            _drop_created(existing)
        return
    if find_mariadb() is None:
        pytest.skip(NO_BINARY)
    server = start_mariadb(performance_schema=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mysql_server_no_ps() -> Iterator[MariaDbServer]:
    """A second throwaway MariaDB with performance_schema OFF (MariaDB's default)."""
    if find_mariadb() is None:
        pytest.skip(NO_SERVER_BINARY)
    server = start_mariadb(performance_schema=False)
    try:
        yield server
    finally:
        server.stop()


def new_db_on(server: MySqlServer, sql: str = "", name: str | None = None) -> tuple[str, str]:
    dbname = name or f"dbaudit_t_{_run_id}_{next(_counter)}"
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{dbname}`")
    with server.connect(dbname) as conn:
        run_script(conn, sql)
    return dbname, server.dsn(dbname)


@pytest.fixture
def mysql_new_db(mysql_server: MySqlServer) -> NewMySqlDb:
    """Factory: ``mysql_new_db(sql="", name=None) -> dsn`` creates a fresh database and runs ``sql`` in it."""

    def create(sql: str = "", name: str | None = None) -> str:
        dbname, dsn = new_db_on(mysql_server, sql, name)
        _created.append(dbname)
        return dsn

    return create
