"""WL02 on partitioned tables and inheritance trees, on a real server: the table as the planner sees it.

A statement names a partitioned table (or an inheritance parent); its plan scans every member. The members are
judged together (rows summed), the index is proposed on the table the statement names, its fix is run here and
the statement planned again: no sequential scan is left. Look-alikes stay silent: a tree whose every member has
the index, a partitioned table with an index of its own, a partition the statement names directly (small on its
own).
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import find_check, load_checks, run_checks
from auditor.model import Finding, Snapshot
from auditor.relations import planned_rows
from auditor.workload import index_coverage
from tests.test_sample_schemas import _psql

HERE = Path(__file__).resolve().parent
PAGILA = Path(os.environ.get("DBAUDIT_SAMPLES", HERE.parents[1] / "shared" / "samples")) / "postgres" / "pagila"

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
-- 270,000 events in 30 daily partitions of 9,000 rows: each partition is small, the table is not
CREATE TABLE events (id bigint NOT NULL, account_id int NOT NULL, session_id int NOT NULL, device_id int NOT NULL,
                     kind smallint NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (created_at, id))
  PARTITION BY RANGE (created_at);
DO $$
BEGIN
  FOR d IN 0..29 LOOP
    EXECUTE format('CREATE TABLE events_d%s PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                   lpad(d::text, 2, '0'), timestamptz '2024-01-01' + d * interval '1 day',
                   timestamptz '2024-01-01' + (d + 1) * interval '1 day');
    -- every partition has an index of its own on session_id, the parent none
    EXECUTE format('CREATE INDEX ON events_d%s (session_id)', lpad(d::text, 2, '0'));
  END LOOP;
END $$;
INSERT INTO events SELECT g, 1 + (g * 7919) % 50000, (g * 31) % 90000, 1 + g % 20000, g % 6,
                          timestamptz '2024-01-01' + (g - 1) * interval '9.6 seconds'
  FROM generate_series(1, 270000) g;
-- the parent's own index: attached to a copy on every partition
CREATE INDEX events_device_idx ON events (device_id);

-- an inheritance tree in the old style (jOOQ's sakila): four yearly children of 60,000 rows, an empty parent
CREATE TABLE measurements (id bigint NOT NULL, sensor_id int NOT NULL, station_id int NOT NULL,
                           taken_at timestamptz NOT NULL, value real NOT NULL);
CREATE TABLE measurements_2021 (CHECK (taken_at < '2022-01-01')) INHERITS (measurements);
CREATE TABLE measurements_2022 (CHECK (taken_at >= '2022-01-01' AND taken_at < '2023-01-01')) INHERITS (measurements);
CREATE TABLE measurements_2023 (CHECK (taken_at >= '2023-01-01' AND taken_at < '2024-01-01')) INHERITS (measurements);
CREATE TABLE measurements_2024 (CHECK (taken_at >= '2024-01-01')) INHERITS (measurements);
INSERT INTO measurements_2021
  SELECT g, 1 + (g * 13) % 30000, g % 500, '2021-01-01'::timestamptz + g * interval '8 minutes', g % 97
  FROM generate_series(1, 60000) g;
INSERT INTO measurements_2022
  SELECT g, 1 + (g * 17) % 30000, g % 500, '2022-01-01'::timestamptz + g * interval '8 minutes', g % 89
  FROM generate_series(1, 60000) g;
INSERT INTO measurements_2023
  SELECT g, 1 + (g * 19) % 30000, g % 500, '2023-01-01'::timestamptz + g * interval '8 minutes', g % 83
  FROM generate_series(1, 60000) g;
INSERT INTO measurements_2024
  SELECT g, 1 + (g * 23) % 30000, g % 500, '2024-01-01'::timestamptz + g * interval '8 minutes', g % 79
  FROM generate_series(1, 60000) g;
-- sensor_id: indexed on the parent only (its children do not share it); station_id: on every member
CREATE INDEX measurements_sensor_id_idx ON measurements (sensor_id);
CREATE INDEX ON measurements (station_id);
CREATE INDEX ON measurements_2021 (station_id);
CREATE INDEX ON measurements_2022 (station_id);
CREATE INDEX ON measurements_2023 (station_id);
CREATE INDEX ON measurements_2024 (station_id);
ANALYZE;
"""

# statement -> (bound value, reported by WL02 as (table, columns) or None)
STATEMENTS: dict[str, tuple[Any, tuple[str, tuple[str, ...]] | None]] = {
    "SELECT id, kind FROM events WHERE account_id = %s": (77, ("events", ("account_id",))),
    "SELECT value FROM measurements WHERE sensor_id = %s": (123, ("measurements", ("sensor_id",))),
    # look-alikes
    "SELECT id FROM events WHERE session_id = %s": (4242, None),  # every partition has its index
    "SELECT id FROM events WHERE device_id = %s": (17, None),  # the partitioned table has its index
    "SELECT id FROM events_d03 WHERE account_id = %s": (77, None),  # one partition, named: 9,000 rows
    "SELECT value FROM measurements WHERE station_id = %s": (42, None),  # every member has its index
}


def _normalized(text: str) -> str:
    return text.replace("%s", "$1")


def _drive(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(40):
            for text, (value, _) in STATEMENTS.items():
                conn.execute(text, (value,)).fetchall()


def _generic_plan(dsn: str, text: str, value: Any) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE p AS {_normalized(text)}")
        # a utility statement takes no bound parameter: the value goes in as a literal
        explain = pgsql.SQL("EXPLAIN EXECUTE p({})").format(pgsql.Literal(value))
        return "\n".join(r[0] for r in conn.execute(explain).fetchall())


def _run_fix(dsn: str, remediation: str, partitions: list[str]) -> None:
    """Run a fix as a DBA would: statement by statement (CONCURRENTLY refuses a transaction block), the
    per-partition template of a long fix once per partition."""
    template = [line[4:].strip() for line in remediation.splitlines() if line.startswith("--   ")]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for line in remediation.splitlines():
            if line.strip() and not line.startswith("--"):
                conn.execute(line)
        for part in partitions if template else ():
            for step in template:
                conn.execute(step.replace("<partition>", part))


@pytest.fixture(scope="module")
def database(pg_server: Any) -> Iterator[str]:
    name = f"dbaudit_t_parts_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    dsn = pg_server.dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
            if pg_server.has_hypopg:
                conn.execute("CREATE EXTENSION hypopg")
        yield dsn
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def _scan(dsn: str) -> tuple[Snapshot, list[Finding]]:
    _drive(dsn)
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False))
    return snap, list(run_checks(snap, [find_check("WL02")]).findings)  # type: ignore[list-item]


def test_partitioned_and_inherited_tables_are_judged_whole(database: str, pg_server: Any) -> None:
    snap, findings = _scan(database)
    events = snap.table("public", "events")
    assert events is not None and planned_rows(snap, events) == 270_000
    assert all((planned_rows(snap, p) or 0) < 10_000 for p in snap.children_of(events))
    reported = {(f.object.table, f.object.columns): f for f in findings}
    assert set(reported) == {want for _, want in STATEMENTS.values() if want is not None}

    on_events = reported[("events", ("account_id",))]
    assert on_events.object.query == "SELECT id, kind FROM events WHERE account_id = $1"
    # a Parallel Append over the partitions or a plain one, as the planner likes
    assert re.match(r"(Parallel )?Seq Scan on 30 of the 30 partitions of public\.events \(270000 rows in all\)",
                    on_events.message), on_events.message
    assert on_events.details["table_rows"] == 270_000 and len(on_events.details["scanned"]) == 30
    assert on_events.remediation is not None
    assert on_events.remediation.splitlines()[0] == (
        "CREATE INDEX events_account_id_idx ON ONLY public.events (account_id);")
    assert "-- then, for each of its 30 partitions" in on_events.remediation
    assert on_events.details["verified"] is bool(pg_server.has_hypopg)

    on_tree = reported[("measurements", ("sensor_id",))]
    assert re.match(r"(Parallel )?Seq Scan on 4 of the 4 inheritance children of public\.measurements",
                    on_tree.message), on_tree.message
    # the parent has the index already: one per child, each built without blocking writes
    assert on_tree.remediation == "\n".join(
        ["-- inheritance children do not share their parent's indexes: one index per table"]
        + [f"CREATE INDEX CONCURRENTLY measurements_{y}_sensor_id_idx ON public.measurements_{y} (sensor_id);"
           for y in (2021, 2022, 2023, 2024)])

    pct, how = index_coverage(snap)
    assert pct is not None and pct < 100, how  # the two statements above reach a large table sequentially


def test_the_proposed_indexes_remove_the_sequential_scans(database: str) -> None:
    snap, findings = _scan(database)
    events = snap.table("public", "events")
    assert events is not None
    parts = [p.name for p in snap.children_of(events)]
    for f in findings:
        assert f.remediation is not None
        _run_fix(database, f.remediation, parts)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ANALYZE")
        valid = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_account_id_idx'::regclass")
        assert valid.fetchone() == (True,)  # every partition's index attached: the parent's is valid
    for text, (value, want) in STATEMENTS.items():
        if want is not None:
            plan = _generic_plan(database, text, value)
            # the empty inheritance parent is read sequentially (0 pages: nothing is cheaper); no member with rows
            assert set(re.findall(r"Seq Scan on (\w+)", plan)) <= {"measurements"}, plan
    _, again = _scan(database)
    assert again == []


@pytest.fixture(scope="module")
def pagila(pg_server: Any) -> Iterator[str]:
    if not PAGILA.is_dir():
        pytest.skip(f"the public samples are not at {PAGILA.parent.parent} (set DBAUDIT_SAMPLES)")
    name = f"dbaudit_t_pagila_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    dsn = pg_server.dsn(name)
    try:
        for rel in ("pagila-schema.sql", "pagila-data.sql"):
            done = subprocess.run([_psql(pg_server), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f",
                                   str(PAGILA / rel)], capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; ANALYZE")
            if pg_server.has_hypopg:
                conn.execute("CREATE EXTENSION hypopg")
        yield dsn
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


PAGILA_LOOKUP = "SELECT amount FROM payment WHERE rental_id = %s"


def test_pagila_payment_lookup_gets_an_index_on_the_parent(pagila: str) -> None:
    with psycopg.connect(pagila, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(200):
            conn.execute(PAGILA_LOOKUP, (1 + i * 79 % 16000,)).fetchall()
            # look-alikes: every partition has its index on customer_id; one partition named alone is small
            conn.execute("SELECT amount FROM payment WHERE customer_id = %s", (1 + i % 599,)).fetchall()
            conn.execute("SELECT amount FROM payment_p2022_03 WHERE rental_id = %s", (1 + i,)).fetchall()
    snap = collect(parse_dsn(pagila), CollectOptions(sample=False))
    found = list(run_checks(snap, [find_check("WL02")]).findings)  # type: ignore[list-item]
    assert [(f.object.query, f.object.table, f.object.columns) for f in found] == [
        ("SELECT amount FROM payment WHERE rental_id = $1", "payment", ("rental_id",))]
    (f,) = found
    assert re.match(r"(Parallel )?Seq Scan on 7 of the 7 partitions of public\.payment \(16049 rows in all\)",
                    f.message), f.message
    assert f.remediation is not None
    lines = f.remediation.splitlines()
    assert lines[0] == "CREATE INDEX payment_rental_id_idx ON ONLY public.payment (rental_id);"
    assert len([line for line in lines if line.startswith("ALTER INDEX public.payment_rental_id_idx ATTACH")]) == 7
    # the step that saves the most measured time: the statement took most of the workload's time
    from auditor.design import next_steps, workload_time_ms

    every = run_checks(snap, list(load_checks().values())).findings
    timed = [s for s in next_steps(every, (), workload_ms=workload_time_ms(snap)) if s.saves_ms]
    assert timed[0].title == "Create the index on public.payment (rental_id)" and timed[0].sql == (f.remediation,)
    # pagila declares the payment keys partition by partition: the parent's index serves their lookups too
    assert timed[0].codes == ("IX05", "WL02") and "resolves IX05 x6, WL02" in timed[0].detail
    assert "Seq Scan" in _generic_plan(pagila, PAGILA_LOOKUP, 5)
    _run_fix(pagila, f.remediation, [])
    plan = _generic_plan(pagila, PAGILA_LOOKUP, 5)
    assert "Seq Scan" not in plan and len(re.findall(r"payment_p2022_0\d_rental_id_idx", plan)) == 7, plan
