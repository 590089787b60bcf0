"""WL03 needs a loop, on real servers (PostgreSQL and MariaDB): a lookup made once per row of a parent statement
is N+1; a lookup made once per request is not, however hot.

A small forum application is simulated request by request, as an application sends them (bound parameters,
autocommit). Every request reads the signed-in account (``accounts`` by id) and the topic it is in
(``topics`` by id): hot single-row lookups, once per request. A topic page lists 20 posts and then reads each
post's author one by one (``users`` by id): the N+1 loop. A post page reads one post and its author: a
one-row parent, no loop. An admin page lists an account's users, a statement on the table that references
``accounts``, whose rows do not match the account lookups.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import find_check, run_checks
from auditor.model import Finding, Snapshot
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401  (pytest fixture)

SCHEMA = """
CREATE TABLE accounts (id int PRIMARY KEY, plan varchar(10) NOT NULL);
CREATE TABLE users (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts (id), name varchar(40) NOT NULL);
CREATE INDEX users_account_idx ON users (account_id);
CREATE TABLE topics (id int PRIMARY KEY, title varchar(60) NOT NULL);
CREATE TABLE posts (id int PRIMARY KEY, topic_id int NOT NULL REFERENCES topics (id),
                    author_id int NOT NULL REFERENCES users (id), title varchar(80) NOT NULL, created_at int NOT NULL);
CREATE INDEX posts_topic_created_idx ON posts (topic_id, created_at);
CREATE INDEX posts_author_idx ON posts (author_id);
"""

N_ACCOUNTS, N_USERS, N_TOPICS, N_POSTS, REQUESTS = 400, 5000, 60, 30_000, 1200

ACCOUNT = "SELECT id, plan FROM accounts WHERE id = %s"
TOPIC = "SELECT id, title FROM topics WHERE id = %s"
PAGE = "SELECT id, author_id, title FROM posts WHERE topic_id = %s ORDER BY created_at DESC LIMIT 20"
AUTHOR = "SELECT id, name FROM users WHERE id = %s"
POST = "SELECT id, author_id, title FROM posts WHERE id = %s"
ACCOUNT_USERS = "SELECT id, name FROM users WHERE account_id = %s"
# rarely called, each of its own shape (the statistics merge texts that differ only in constants)
ADMIN = ["SELECT count(*) FROM posts WHERE created_at > %s", "SELECT count(*) FROM users WHERE account_id > %s",
         "SELECT max(created_at) FROM posts WHERE topic_id = %s", "SELECT count(*) FROM topics WHERE id > %s",
         "SELECT min(id) FROM posts WHERE author_id = %s", "SELECT count(*) FROM accounts WHERE id > %s",
         "SELECT avg(created_at) FROM posts WHERE id > %s",
         "SELECT count(DISTINCT account_id) FROM users WHERE id > %s"]


def _load(insert: Callable[[str, list[tuple[Any, ...]]], None]) -> None:
    r = random.Random(5)
    insert("accounts", [(i, r.choice(["free", "team", "biz"])) for i in range(1, N_ACCOUNTS + 1)])
    insert("users", [(i, 1 + i % N_ACCOUNTS, f"user {i}") for i in range(1, N_USERS + 1)])
    insert("topics", [(i, f"topic {i}") for i in range(1, N_TOPICS + 1)])
    insert("posts", [(i, 1 + r.randrange(N_TOPICS), 1 + r.randrange(N_USERS), f"post {i}", i)
                     for i in range(1, N_POSTS + 1)])


def _requests(run: Callable[[str, Any], list[tuple[Any, ...]]]) -> dict[str, int]:
    """The application, request by request; returns how many times each text was sent."""
    r = random.Random(11)
    sent: dict[str, int] = {}

    def q(text: str, value: Any) -> list[tuple[Any, ...]]:
        sent[text] = sent.get(text, 0) + 1
        return run(text, value)

    for n in range(REQUESTS):
        q(ACCOUNT, 1 + r.randrange(N_ACCOUNTS))  # the signed-in account: once per request
        topic = 1 + r.randrange(N_TOPICS)
        q(TOPIC, topic)  # the topic the request is in: once per request
        kind = r.random()
        if kind < 0.3:  # topic page: 20 posts, then each author one by one (N+1)
            for _, author, _ in q(PAGE, topic):
                q(AUTHOR, author)
        elif kind < 0.8:  # post page: one post, its author
            post = q(POST, 1 + r.randrange(N_POSTS))
            q(AUTHOR, post[0][1])
        if n % 60 == 0:  # admin pages
            q(ACCOUNT_USERS, 1 + r.randrange(N_ACCOUNTS))
            for text in ADMIN:
                q(text, r.randrange(N_POSTS))
    return sent


def _wl03(snap: Snapshot) -> list[Finding]:
    return list(run_checks(snap, [find_check("WL03")]).findings)  # type: ignore[list-item]


def _assert_only_the_loop(snap: Snapshot, sent: dict[str, int], author_text: str) -> None:
    found = _wl03(snap)
    assert [" ".join(str(f.object.query).split()) for f in found] == [author_text]
    (f,) = found
    assert f.details["calls"] == sent[AUTHOR]
    # the topic pages' rows explain the lookups: 20 a page, one more per post page
    assert f.details["parent_rows"] == 20 * sent[PAGE] and f.details["parent_calls"] == sent[PAGE]
    assert 20.0 <= f.details["lookups_per_parent_call"] <= 40.0
    assert "references" in f.details and any("posts(author_id)" in r for r in f.details["references"])
    assert "once for each of the" in f.message and "equality on the primary key of" in f.message
    # the account and topic lookups are as hot as a loop's (>= 1000 calls, 10x the median) but once per request
    assert sent[ACCOUNT] == sent[TOPIC] == REQUESTS >= max(1000, 10 * f.details["median_calls"])


@pytest.fixture(scope="module")
def pg_scanned(pg_server: Any) -> Iterator[tuple[Snapshot, dict[str, int]]]:
    name = f"dbaudit_t_loops_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    dsn = pg_server.dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute(SCHEMA)

            def insert(table: str, rows: list[tuple[Any, ...]]) -> None:
                with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

            _load(insert)
            conn.execute("ANALYZE")
            conn.execute("SELECT pg_stat_statements_reset()")
            sent = _requests(lambda text, value: conn.execute(text, (value,)).fetchall())
        yield collect(parse_dsn(dsn), CollectOptions(sample=False)), sent
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def test_postgresql_reports_the_loop_not_the_per_request_lookups(
        pg_scanned: tuple[Snapshot, dict[str, int]]) -> None:
    snap, sent = pg_scanned
    _assert_only_the_loop(snap, sent, "SELECT id, name FROM users WHERE id = $1")


@pytest.fixture(scope="module")
def mysql_scanned(mysql_server: MySqlServer) -> tuple[Snapshot, dict[str, int]]:  # noqa: F811
    db, dsn = new_db_on(mysql_server, SCHEMA)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:

        def insert(table: str, rows: list[tuple[Any, ...]]) -> None:
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

        _load(insert)
        cur.execute("ANALYZE TABLE accounts, users, topics, posts")
        cur.fetchall()

        def run(text: str, value: Any) -> list[tuple[Any, ...]]:
            cur.execute(text, (value,))
            return list(cur.fetchall())

        sent = _requests(run)
    return collect(parse_dsn(dsn), CollectOptions(sample=False)), sent


def test_mariadb_reports_the_loop_not_the_per_request_lookups(
        mysql_scanned: tuple[Snapshot, dict[str, int]]) -> None:
    snap, sent = mysql_scanned
    lookups = [s for s in snap.statements if s.query.startswith("SELECT ID , NAME FROM `users` WHERE ID =")
               or s.query.startswith("SELECT `id` , `name` FROM `users` WHERE `id` =")]
    assert len(lookups) == 1, [s.query for s in snap.statements]
    _assert_only_the_loop(snap, sent, lookups[0].query)
