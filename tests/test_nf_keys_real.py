"""Which declared keys the normalization checks take as keys, on real servers (rt17).

- An INVALID unique index (a failed CREATE UNIQUE INDEX CONCURRENTLY) enforces nothing: its column is no key,
  and what determines it is still reported (NF04), while IX04 reports the index.
- A unique key that holds the primary key (UNIQUE (id, grp) beside PRIMARY KEY (id)) is a superkey, not a
  candidate key: grp -> label is a transitive dependency (NF04), never a partial one of "the key (id, grp)"
  (NF03). On PostgreSQL and MariaDB.
"""

from __future__ import annotations

import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks, select_checks
from auditor.model import Finding
from tests.conftest import NewDb
from tests.mysql_support import NewMySqlDb, mysql_new_db, mysql_server  # noqa: F401  (pytest fixtures)

# zip -> city: 400 zips, 100 cities (four zips each), 20,000 rows
PG_USERS = """
CREATE TABLE users (id bigint PRIMARY KEY, zip text NOT NULL, city text NOT NULL, note text);
INSERT INTO users SELECT g, (10000 + z)::text, 'City-' || (z / 4), md5(g::text)
FROM (SELECT g, (hashint4(g) & 1048575) % 400 AS z FROM generate_series(1, 20000) g) s;
ANALYZE users;
"""

# grp -> label, 300 groups; (id, grp) unique beside the primary key (id)
PG_ITEMS = """
CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL, label text NOT NULL, note text, UNIQUE (id, grp));
INSERT INTO items SELECT g, g % 300, 'L' || (g % 300), md5(g::text) FROM generate_series(1, 20000) g;
ANALYZE items;
"""

MY_ITEMS = """
CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL, label varchar(20) NOT NULL, note varchar(40),
                    UNIQUE KEY items_id_grp (id, grp));
INSERT INTO items SELECT seq, seq % 300, CONCAT('L', seq % 300), MD5(seq) FROM seq_1_to_20000;
ANALYZE TABLE items;
"""


def _nf(findings: tuple[Finding, ...] | list[Finding]) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    return sorted((f.code, f.object.table or "", tuple(f.details["determinant"]),  # type: ignore[arg-type]
                   tuple(f.details["dependent"])) for f in findings if f.code in ("NF03", "NF04"))  # type: ignore[arg-type]


def test_an_invalid_unique_index_is_no_key(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(PG_USERS)
    with psycopg.connect(dsn, autocommit=True) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY users_city_uidx ON users (city)")
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False))
    (invalid,) = [ix for ix in snap.indexes if ix.name == "users_city_uidx"]
    assert invalid.is_unique and not invalid.is_valid
    findings = run_checks(snap, select_checks(all_checks(), ["NF03", "NF04", "IX04", "KY01"])).findings
    assert _nf(findings) == [("NF04", "users", ("zip",), ("city",))], [f.message for f in findings]
    assert [(f.code, f.object.index) for f in findings if f.code == "IX04"] == [("IX04", "users_city_uidx")]


def test_a_superkey_is_no_candidate_key_on_postgresql(pg_new_db: NewDb) -> None:
    snap = collect(parse_dsn(pg_new_db(PG_ITEMS)), CollectOptions(workload=False))
    findings = run_checks(snap, select_checks(all_checks(), ["NF03", "NF04"])).findings
    assert _nf(findings) == [("NF04", "items", ("grp",), ("label",))], [f.message for f in findings]
    assert not any("part of the key" in f.message for f in findings)


def test_a_superkey_is_no_candidate_key_on_mariadb(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    snap = collect(parse_dsn(mysql_new_db(MY_ITEMS)), CollectOptions(workload=False))
    findings = run_checks(snap, select_checks(all_checks(), ["NF03", "NF04"])).findings
    assert _nf(findings) == [("NF04", "items", ("grp",), ("label",))], [f.message for f in findings]
