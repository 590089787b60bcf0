"""The reads of relations' pages (CP01's TOAST column sample, pgstattuple's bloat measures) hold no lock past
their statement, on a real PostgreSQL.

They once ran inside the catalog's REPEATABLE READ transaction: the AccessShareLock that ``query_to_xml`` and
``pgstattuple_approx()`` take on the tables they read then lasted until the catalog's COMMIT, and an
application's ALTER TABLE on such a table queued behind the rest of the catalog (and every query behind the
ALTER queued too). Now the catalog only chooses what they read, and they run after its COMMIT, one statement
each. The tests stop the scan at the catalog's last moment (just before its COMMIT, when every lock it took is
still held) and look at ``pg_locks`` from another session, and try an ALTER TABLE there. ``--no-sample`` turns
the TOAST column sample off (it reads table data), with a note, while pgstattuple still measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
import pytest

from auditor import progress
from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions, collect
from auditor.connectors.postgres.session import Session
from auditor.dsn import parse_dsn
from auditor.report import Report
from checks.capacity import ToastHeavyOptions
from tests.conftest import NewDb

SEED = """
CREATE EXTENSION pgstattuple;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
-- TOAST-heavy: each body about 10 kB out of line, the heap small (the CP01 sample reads it)
CREATE TABLE documents (id int PRIMARY KEY, title text NOT NULL, body text);
INSERT INTO documents
SELECT g, 'doc ' || g, (SELECT string_agg(md5(g::text || '-' || i::text), '') FROM generate_series(1, 320) i)
  FROM generate_series(1, 1500) g;
-- bloated: 80 % of its rows deleted evenly, its pages kept (pgstattuple's candidates, heap and primary key)
CREATE TABLE bloated (id bigint PRIMARY KEY, payload text NOT NULL);
INSERT INTO bloated SELECT g, md5(g::text) FROM generate_series(1, 80000) g;
DELETE FROM bloated WHERE id % 5 <> 0;
"""
PROBED = ("documents", "bloated", "bloated_pkey")
ALTER = "ALTER TABLE documents ADD COLUMN during_catalog int"
SAMPLED = CollectOptions(workload=False)


@pytest.fixture
def shop(pg_new_db: NewDb) -> str:
    dsn = pg_new_db(SEED)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # relpages of the heaps and the TOAST tables, pg_stats for the estimates
        conn.execute("SELECT pg_stat_statements_reset()")
    return dsn


@dataclass
class Seen:
    """What another session saw of dbaudit's backend at one moment of the scan."""

    locks: list[tuple[str, str]] = field(default_factory=list)  # (relation, mode) held by dbaudit's backend
    state: str = ""  # pg_stat_activity.state of dbaudit's backend
    alter_waited_s: float | None = None  # an ALTER TABLE documents from another session; None: not tried
    alter_error: str | None = None


def _look(dsn: str, pid: int, alter: bool) -> Seen:
    seen = Seen()
    with psycopg.connect(dsn, autocommit=True) as admin:
        seen.locks = [(str(r[0]), str(r[1])) for r in admin.execute(
            "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = %s AND l.locktype = 'relation' AND c.relname = ANY (%s) ORDER BY 1, 2",
            (pid, list(PROBED))).fetchall()]
        row = admin.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        seen.state = str(row[0]) if row else ""
    if alter:
        # the application's DDL, bounded by its own lock_timeout (dbaudit's thread waits for this one: without
        # the bound a lock held by dbaudit would wait forever), rolled back so that the table stays as seeded
        with psycopg.connect(dsn) as app:
            app.execute("SET lock_timeout = '2s'")
            started = time.perf_counter()
            try:
                app.execute(ALTER)
                seen.alter_waited_s = time.perf_counter() - started
            except psycopg.errors.LockNotAvailable as exc:
                seen.alter_waited_s = time.perf_counter() - started
                seen.alter_error = str(exc).splitlines()[0]
            app.rollback()
    return seen


def _before_commit(monkeypatch: pytest.MonkeyPatch, look: Callable[[Session], None]) -> None:
    """Call ``look`` at the catalog's last moment: every catalog query has run, its COMMIT has not."""
    original = Session.transaction

    @contextmanager
    def transaction(self: Session, export: bool = False) -> Iterator[str | None]:
        with original(self, export) as exported:
            yield exported
            look(self)

    monkeypatch.setattr(Session, "transaction", transaction)


def test_the_page_reads_hold_no_lock_into_the_catalog_transaction(shop: str, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    at_commit: list[Seen] = []
    pid: list[int] = []

    def look(session: Session) -> None:
        pid.append(session.conn.info.backend_pid)
        at_commit.append(_look(shop, pid[0], alter=True))

    _before_commit(monkeypatch, look)
    during_sample: list[Seen] = []

    def hook(phase: str, *step: object) -> None:
        # the data sample runs after the page reads: by its first table they are done, and hold nothing
        if phase == "sampling" and step and not during_sample:
            during_sample.append(_look(shop, pid[0], alter=False))

    with progress.announcing(hook):
        snap = collect(parse_dsn(shop), SAMPLED)

    (seen,) = at_commit
    # the catalog transaction, about to commit, holds no lock on the tables the page reads read
    assert seen.locks == [], f"the catalog transaction still holds {seen.locks}"
    assert seen.alter_error is None and seen.alter_waited_s is not None and seen.alter_waited_s < 1.0, seen
    # and the page reads ended with their statements: nothing held while the data sample runs
    (later,) = during_sample
    assert later.locks == [] and later.state != "idle in transaction", later
    # what they read is all there: the column holding the TOAST, and pgstattuple's figures of the candidates
    assert snap.maintenance is not None
    body = {c.column: c.avg_bytes for c in snap.maintenance.toast_columns_of("public", "documents")}
    assert body["body"] > 5000 > body["title"], body
    assert snap.maintenance.exact_bloat == "pgstattuple"
    heap = next(b for b in snap.maintenance.table_bloat or () if b.table == "bloated")
    pkey = next(b for b in snap.maintenance.index_bloat or () if b.index == "bloated_pkey")
    assert heap.exact_free_pct is not None and heap.exact_free_pct > 50, heap
    assert pkey.exact_leaf_density is not None and pkey.exact_leaf_density < 50, pkey
    assert not any(n.area in ("toast_columns", "exact_bloat", "maintenance") for n in snap.notes), snap.notes
    print(f"\nALTER TABLE at the catalog's COMMIT: waited {seen.alter_waited_s * 1000:.0f} ms")


def _statements_like(dsn: str, pattern: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d"
                           " ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query LIKE %s",
                           (pattern,)).fetchone()
    return int(row[0]) if row else 0


def _cp01(dsn: str, collect_options: CollectOptions) -> Report:
    """A scan of CP01 alone, as ``dbaudit scan --select CP01`` runs it, with its size floor lowered."""
    return run_audit(dsn, AuditSettings(collect=collect_options, select=("CP01",),
                                        options={"CP01": ToastHeavyOptions(min_toast_bytes=4 * 1024**2)}))


def test_no_sample_reads_no_table_data_for_cp01_and_says_so(shop: str) -> None:
    report = _cp01(shop, CollectOptions(sample=False, workload=False))  # --no-sample
    snap = report.snapshot
    assert snap is not None and snap.maintenance is not None and snap.maintenance.toast_columns is None
    # the TOAST column sample never ran: it reads table data
    assert _statements_like(shop, "%query_to_xml%") == 0
    (note,) = [n for n in report.notes if n.area == "toast_columns"]
    assert "--no-sample" in note.message and "were not sampled" in note.message, note
    assert note.objects == ("public.documents",)
    assert note.enable == "run the scan without --no-sample (data sampling is on by default)"
    # CP01 still fires, naming the columns that can hold large values without their sizes
    (finding,) = report.findings
    assert finding.object.label() == "public.documents" and "sizes not sampled" in finding.message, finding
    # pgstattuple reads no values: it measures under --no-sample as well
    assert snap.maintenance.exact_bloat == "pgstattuple"

    # without --no-sample, CP01 alone sizes the columns, and the normalization checks' sample (no selected
    # check reads it) is still left out
    report = _cp01(shop, CollectOptions(workload=False))
    sampled = report.snapshot
    assert sampled is not None and sampled.sampling is not None and not sampled.sampling.enabled
    assert _statements_like(shop, "%query_to_xml%") == 1
    assert not any(n.area == "toast_columns" for n in report.notes)
    (finding,) = report.findings
    assert finding.details["toastable_columns"][0] == "body" and "body (" in finding.message, finding
    # the round trips are counted as before: the catalog's and the page reads' (one more: the column sample)
    assert sampled.queries_sent == snap.queries_sent + 1
