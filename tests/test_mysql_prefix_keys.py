"""MySQL/MariaDB prefix keys `col(N)` compared with indexes on the whole column, on a real MariaDB.

A prefix index beside an index that leads with the whole column (or a longer prefix of it) serves nothing the
other does not: IX03 reports it, and its fix runs. The look-alikes stay silent: a whole-column index beside a
prefix one (a prefix cannot return the value, sort by it or cover a query), a unique prefix (it enforces
something), a prefix of a TEXT column no whole-column index can exist for, and a prefix followed by another key.
"""

from __future__ import annotations

import random
from typing import Any

import pymysql

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import find_check, run_checks
from auditor.model import Finding, IndexKey, Snapshot
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401  (pytest fixture)

SCHEMA = """
CREATE TABLE articles (
  id int AUTO_INCREMENT PRIMARY KEY,
  title varchar(200) NOT NULL,
  slug varchar(120) NOT NULL,
  email varchar(120) NOT NULL,
  name varchar(80) NOT NULL,
  code varchar(40) NOT NULL,
  zip varchar(10) NOT NULL,
  body text NOT NULL,
  published_at datetime NOT NULL,
  x int NOT NULL,
  KEY ix_title10 (title(10)),                -- [P] redundant: ix_title indexes the whole column
  KEY ix_title (title),
  KEY ix_slug20 (slug(20)),                  -- [P] redundant: ix_slug_pub leads with the whole column
  KEY ix_slug_pub (slug, published_at),
  KEY ix_email30 (email(30)),                -- [P] redundant: a longer prefix of the same column
  KEY ix_email40_x (email(40), x),
  KEY ix_name (name),                        -- [T] a whole column beside a prefix: not redundant
  KEY ix_name10_x (name(10), x),             -- [T] nothing leads with name and then x
  UNIQUE KEY uq_code8 (code(8)),             -- [T] unique: enforces something
  KEY ix_code (code),
  KEY ix_body100 (body(100)),                -- [T] a TEXT prefix, alone
  KEY ix_zip5a (zip(5)),                     -- [P] IX02: the same prefix twice
  KEY ix_zip5b (zip(5))
) ENGINE=InnoDB;
"""

PLANTED_IX03 = {"ix_title10": "ix_title", "ix_slug20": "ix_slug_pub", "ix_email30": "ix_email40_x"}


def _load(conn: pymysql.connections.Connection[Any]) -> None:
    r = random.Random(9)
    rows = [(f"Title {i} {r.random():.6f}", f"slug-{i}-{r.randrange(10**6)}", f"user{i}@example{r.randrange(50)}.org",
             f"Name {r.randrange(5000)}", f"{i:08d}-{r.randrange(1000)}", f"{r.randrange(10**5):05d}",
             "lorem ipsum " * 20, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:00:00", r.randrange(100))
            for i in range(20_000)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO articles (title, slug, email, name, code, zip, body, published_at, x) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        cur.execute("ANALYZE TABLE articles")
        cur.fetchall()


def _scan(dsn: str) -> tuple[Snapshot, list[Finding]]:
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    return snap, list(run_checks(snap, [find_check("IX02"), find_check("IX03")]).findings)  # type: ignore[list-item]


def test_prefix_keys_are_compared_with_whole_column_indexes(mysql_server: MySqlServer) -> None:  # noqa: F811
    db, dsn = new_db_on(mysql_server, SCHEMA)
    with mysql_server.connect(db) as conn:
        _load(conn)
    snap, found = _scan(dsn)
    keys = {ix.name: ix.keys for ix in snap.indexes}
    assert keys["ix_title10"] == (IndexKey(column="title", prefix_length=10),)
    assert keys["ix_email40_x"][0] == IndexKey(column="email", prefix_length=40)
    definition = next(ix.definition for ix in snap.indexes if ix.name == "ix_slug20")
    assert definition == f"CREATE INDEX `ix_slug20` ON `{db}`.`articles` (`slug`(20)) USING BTREE"

    ix03 = {f.object.index: f for f in found if f.code == "IX03"}
    assert {name: f.details["covered_by"] for name, f in ix03.items()} == PLANTED_IX03
    assert ix03["ix_title10"].message == (
        f"{db}.ix_title10 on articles (title(10)) is a leading prefix of ix_title (title), whose keys hold at "
        "least what the prefix key title(10) indexes")
    ix02 = [(f.object.index, f.details["duplicate_of"]) for f in found if f.code == "IX02"]
    assert ix02 == [("ix_zip5b", "ix_zip5a")]

    # the fixes run, and nothing the look-alikes need goes with them
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        for f in found:
            assert f.remediation is not None
            cur.execute(f.remediation)
    _, after = _scan(dsn)
    assert after == []
