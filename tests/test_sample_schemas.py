"""Real schemas written by other people: dbaudit's counts agree with an independent catalog count.

The public samples live in ``shared/samples/postgres`` beside the checkout (CI clones the repository with
``shared/`` next to it). ``tests/sample_counts.sql`` counts missing FK indexes, tables without a primary key,
duplicate and redundant indexes straight from the catalogs, sharing no code with the checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks, select_checks
from auditor.scoring import compute_metrics
from tests.conftest import NewDb, PgServer

HERE = Path(__file__).resolve().parent
SAMPLES = Path(os.environ.get("DBAUDIT_SAMPLES", HERE.parents[1] / "shared" / "samples")) / "postgres"

# sample -> (files loaded in order, extensions it needs first)
CASES = {
    "pagila": (["pagila/pagila-schema.sql"], []),
    "sakila": (["sakila/postgres-sakila-schema.sql"], []),
    "northwind": (["northwind/northwind.sql"], []),
    "danbooru": (["danbooru/structure.sql"], []),
    "musicbrainz": (["musicbrainz/musicbrainz-schema.sql"], ["cube", "earthdistance", "unaccent"]),
}


def _psql(server: PgServer) -> str:
    bin_dir = getattr(server, "bin_dir", None)
    candidate = Path(bin_dir) / "psql" if bin_dir else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    found = shutil.which("psql")
    if found is None:
        pytest.fail("psql is needed to load the sample dumps (install postgresql-client)")
    return found


@pytest.mark.parametrize("sample", sorted(CASES))
def test_counts_agree_with_the_catalog(sample: str, pg_server: PgServer, pg_new_db: NewDb) -> None:
    dsn = _load(sample, pg_server, pg_new_db)
    with psycopg.connect(dsn) as conn:
        row = conn.execute((HERE / "sample_counts.sql").read_text()).fetchone()
    assert row is not None
    expected = dict(zip(("IX05", "KY01", "IX02", "IX03"), (int(v) for v in row), strict=True))

    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    specs = select_checks(all_checks(), ["IX05", "KY01", "IX02", "IX03"])
    found = Counter(f.code for f in run_checks(snap, specs).findings)
    assert {code: found.get(code, 0) for code in expected} == expected, f"{sample}: {dict(found)} vs {expected}"


def _load(sample: str, pg_server: PgServer, pg_new_db: NewDb) -> str:
    if not SAMPLES.is_dir():
        pytest.skip(f"the public samples are not at {SAMPLES} (set DBAUDIT_SAMPLES)")
    files, extensions = CASES[sample]
    dsn = pg_new_db("".join(f"CREATE EXTENSION IF NOT EXISTS {e};" for e in extensions))
    for rel in files:
        done = subprocess.run(
            [_psql(pg_server), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(SAMPLES / rel)],
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    return dsn


@pytest.mark.parametrize(("sample", "declared"), [("sakila", "38/38"), ("pagila", "20/20")])
def test_completeness_counts_the_keys_of_inheritance_children(sample: str, declared: str, pg_server: PgServer,
                                                              pg_new_db: NewDb) -> None:
    # jOOQ's sakila keeps payment in inheritance children, each declaring its own foreign keys (once read as
    # the parent's: 20/44); pagila's partitions declare theirs for the partitioned payment
    dsn = _load(sample, pg_server, pg_new_db)
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    metric = next(m for m in compute_metrics(snap, []) if m.key == "schema_completeness_pct")
    part = next(p for p in metric.parts if p.label == "Reference columns declared as foreign keys")
    assert part.detail.startswith(f"{declared} columns"), part.detail
    # independently: every (table, column) a foreign key declares, among the tables of the metric
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(_DECLARED).fetchall()
    assert int(declared.split("/")[0]) == len(rows)


# the columns of ordinary and partitioned tables (not partitions) that a foreign key declares, on the table
# itself or on one of its partitions, named after another table of the schema (x_id -> x, xs, xes, x-y+ies)
_DECLARED = """
SELECT DISTINCT coalesce(p.relname, t.relname), a.attname
  FROM pg_constraint c
  JOIN pg_class t ON t.oid = c.conrelid
  LEFT JOIN pg_inherits i ON t.relispartition AND i.inhrelid = t.oid
  LEFT JOIN pg_class p ON p.oid = i.inhparent
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
 WHERE c.contype = 'f' AND t.relnamespace = 'public'::regnamespace
   AND a.attname ~ '_?(id|Id|ID)$'
   AND EXISTS (SELECT 1 FROM pg_class r WHERE r.relnamespace = 'public'::regnamespace AND r.relkind IN ('r', 'p')
                 AND r.oid <> coalesce(p.oid, t.oid)
                 AND lower(r.relname) IN (lower(regexp_replace(a.attname, '_?(id|Id|ID)$', '')),
                                          lower(regexp_replace(a.attname, '_?(id|Id|ID)$', '')) || 's',
                                          lower(regexp_replace(a.attname, '_?(id|Id|ID)$', '')) || 'es'))
"""
