"""Sequences' last values are read after the catalog's COMMIT, in bounded batches, on a real PostgreSQL.

pg_sequence_last_value() locks the sequence (ROW EXCLUSIVE) until the end of the transaction, a savepoint
notwithstanding. Read in the catalog's transaction, a scan of 10,000 serial columns held 10,000 locks until the
COMMIT ("out of shared memory" for every session once the shared lock table was full; an ALTER SEQUENCE waited
for the scan). The tests look at dbaudit's backend from another session at the catalog's last moment, check every
last value against the sequences themselves over several batches, and hold one sequence from another session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions, collect
from auditor.connectors.postgres import sequences as sequence_values
from auditor.connectors.postgres.session import Session
from auditor.dsn import parse_dsn
from tests.conftest import NewDb

TABLES = 30
SEED = "\n".join(f"CREATE TABLE t{i:02d} (id serial PRIMARY KEY, v int);"
                 f"INSERT INTO t{i:02d} (v) SELECT g FROM generate_series(1, {i}) g;"
                 for i in range(1, TABLES + 1)) + """
-- an int serial past 90 % of its range (KY04), and one never called (last value NULL)
SELECT setval('t07_id_seq', 2000000000);
CREATE SEQUENCE never_called;
"""
OPTIONS = CollectOptions(sample=False, workload=False)


@pytest.fixture
def serials(pg_new_db: NewDb) -> str:
    return pg_new_db(SEED)


def _truth(dsn: str) -> dict[str, int | None]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")
        return {str(name): value for name, value in rows.fetchall()}


def test_no_sequence_lock_outlives_its_statement_and_every_value_is_read(
        serials: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sequence_values, "BATCH", 7)  # 31 sequences: five batches, the last one short
    held: list[list[tuple[str, str]]] = []
    waited: list[float] = []
    original = Session.transaction

    @contextmanager
    def transaction(self: Session, export: bool = False) -> Iterator[str | None]:
        with original(self, export) as exported:
            yield exported
            # the catalog's last moment: every catalog query has run, its COMMIT has not
            pid = self.conn.info.backend_pid
            with psycopg.connect(serials, autocommit=True) as admin:
                held.append([(str(r[0]), str(r[1])) for r in admin.execute(
                    "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                    " WHERE l.pid = %s AND c.relkind = 'S' ORDER BY 1", (pid,)).fetchall()])
            with psycopg.connect(serials) as app:  # the application's DDL on a serial, bounded by its own timeout
                app.execute("SET lock_timeout = '2s'")
                started = time.perf_counter()
                app.execute("ALTER SEQUENCE t03_id_seq CACHE 2")
                waited.append(time.perf_counter() - started)
                app.rollback()

    monkeypatch.setattr(Session, "transaction", transaction)
    snap = collect(parse_dsn(serials), OPTIONS)
    assert held == [[]], f"the catalog transaction holds locks on sequences: {held}"
    assert waited and waited[0] < 1.0, waited
    truth = _truth(serials)
    got = {s.name: s.last_value for s in snap.sequences}
    assert len(got) == TABLES + 1 and got == truth, (got, truth)
    assert got["t07_id_seq"] == 2_000_000_000 and got["never_called"] is None and got["t30_id_seq"] == 30
    assert not any(n.area == "sequences" for n in snap.notes), snap.notes


def test_a_sequence_held_by_another_session_is_not_waited_for_and_is_noted(serials: str) -> None:
    with psycopg.connect(serials) as app:
        app.execute("ALTER SEQUENCE t07_id_seq CACHE 5")  # SHARE ROW EXCLUSIVE, held until rollback
        report = run_audit(serials, AuditSettings(collect=OPTIONS, select=("KY04",)))
        app.rollback()
    snap = report.snapshot
    assert snap is not None
    got = {s.name: s.last_value for s in snap.sequences}
    assert got["t07_id_seq"] is None and got["t05_id_seq"] == 5
    (note,) = [n for n in snap.notes if n.area == "sequences"]
    assert note.objects == ("public.t07_id_seq",) and "not waited for" in note.message, note
    assert "1 sequence held by another session" in note.message, note
    # KY04 cannot judge the held sequence: no finding, and the note says why (the rest of its batch was read: it
    # was left out, not waited for until lock_timeout failed the whole batch)
    assert report.findings == ()

    # released: KY04 fires on it
    report = run_audit(serials, AuditSettings(collect=OPTIONS, select=("KY04",)))
    (finding,) = report.findings
    assert finding.object.label() == "public.t07_id_seq" and finding.details["last_value"] == 2_000_000_000
