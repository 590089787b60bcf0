"""The catalog's queries go out from a helper thread, ahead of their turn (auditor/connectors/postgres/prefetch.py):
on a real PostgreSQL, what could go wrong mid-catalog still goes as it did with one thread.

- a table locked ACCESS EXCLUSIVE after locks.sql was read: the area that meets it retries without it, and the
  table is left out of every area, with the note;
- the plan foresees every query the collection asks for (none sent for nothing, the count unchanged);
- Ctrl-C, a lost connection and ``--timeout`` while the helper waits for the server end the collection at once,
  with the helper stopped and the transaction (and its locks) gone with the connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import psycopg
import pytest

import auditor.connectors.postgres as pg
from auditor.connectors import CollectOptions
from auditor.connectors.postgres.prefetch import Prefetch
from auditor.connectors.postgres.session import Session
from auditor.dsn import parse_dsn
from auditor.errors import ScanInterrupted

SCHEMA = """
CREATE TABLE early (id int PRIMARY KEY, v int CHECK (v > 0));
CREATE TABLE late (id int PRIMARY KEY, v int CHECK (v > 0));
CREATE INDEX late_v_idx ON late (v);
CREATE TABLE other (id int PRIMARY KEY, late_id int REFERENCES late);
CREATE TABLE computed (id int PRIMARY KEY, v int, w int GENERATED ALWAYS AS (v * 2) STORED);
ANALYZE;
"""

OPTIONS = CollectOptions(sample=False, workload=False)


@pytest.fixture()
def dsn(pg_new_db: Callable[..., str]) -> str:
    return pg_new_db(SCHEMA)


@pytest.fixture()
def untaken(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The areas each collection's helper sent that it never took (a plan that errs)."""
    seen: list[list[str]] = []
    close = Prefetch.close

    def spy(self: Prefetch, abort: bool = False) -> None:
        seen.append(self.untaken())
        close(self, abort)

    monkeypatch.setattr(Prefetch, "close", spy)
    yield seen


def _before(monkeypatch: pytest.MonkeyPatch, area: str, action: Callable[[Session], object]) -> None:
    """Run ``action`` (in the helper thread) just before ``area``'s query is first sent."""
    query = Session.query
    done: list[bool] = []

    def wrapped(self: Session, name: str, params: Mapping[str, Any],
                names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        if name == area and not done:
            done.append(True)
            action(self)
        return query(self, name, params, names)

    monkeypatch.setattr(Session, "query", wrapped)


def test_every_planned_query_is_taken_and_the_count_is_unchanged(dsn: str, untaken: list[list[str]]) -> None:
    snap = pg.collect(parse_dsn(dsn), OPTIONS)
    assert untaken == [[]]
    # server, extensions, schemas, locks, the six areas, activity, posture, maintenance, replication; BEGIN,
    # COMMIT and the session's SETs are three more (not counted in queries_sent: they are all round trips)
    assert snap.queries_sent is not None and snap.queries_sent >= 28
    assert {t.name for t in snap.tables} == {"early", "late", "other", "computed"}


# (the area, a table it needs an ACCESS SHARE lock on, and no area sent before it does): columns.sql prints the
# generation expression with pg_get_expr and goes out first; constraints.sql prints the CHECK constraints with
# pg_get_constraintdef
@pytest.mark.parametrize(("area", "table"), [("columns", "computed"), ("constraints", "late")])
def test_a_table_locked_mid_catalog_is_left_out_of_every_area_with_the_note(
        dsn: str, monkeypatch: pytest.MonkeyPatch, untaken: list[list[str]], area: str, table: str) -> None:
    free = pg.collect(parse_dsn(dsn), OPTIONS)
    holder = psycopg.connect(dsn)
    try:
        holder.execute("SET lock_timeout = '10s'")  # a mistake in the test fails, rather than hangs
        # locked after locks.sql was read: the area waits out lock_timeout, locks.sql is read again, and the area
        # sent again without the table
        _before(monkeypatch, area, lambda _: holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        snap = pg.collect(parse_dsn(dsn), OPTIONS)
    finally:
        holder.close()
    (note,) = [n for n in snap.notes if n.area == "locks"]
    assert note.objects == (f"public.{table}",)
    assert snap.table("public", table) is None and not snap.indexes_of("public", table)
    assert not [c for c in snap.constraints if c.table == table]
    assert snap.maintenance is not None and not [b for b in snap.maintenance.table_bloat or () if b.table == table]
    # the rest as without the lock, and nothing noted as unread
    assert {t.key: t for t in snap.tables} == {t.key: t for t in free.tables if t.name != table}
    assert set(snap.indexes) == {i for i in free.indexes if i.table != table}
    assert set(snap.constraints) == {c for c in free.constraints if c.table != table}
    assert snap.unread_areas == ()
    # three round trips more than the free scan: the refused attempt's rollback, locks.sql again, the area again
    assert free.queries_sent is not None and snap.queries_sent == free.queries_sent + 3
    assert untaken == [[], []]


def _no_dbaudit_backend(dsn: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    with psycopg.connect(dsn, autocommit=True) as admin:
        while time.monotonic() < deadline:
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbaudit'"
                                " AND datname = current_database()").fetchone()
            if row and row[0] == 0:
                return True
            time.sleep(0.05)
    return False


def _helper_alive() -> bool:
    return any(t.name.startswith("dbaudit-catalog") and t.is_alive() for t in threading.enumerate())


def _slow_constraints(monkeypatch: pytest.MonkeyPatch, seconds: int = 20) -> None:
    """constraints.sql waits ``seconds`` on the server first: the helper is waiting there meanwhile."""
    _before(monkeypatch, "constraints", lambda session: session.execute(f"SELECT pg_sleep({seconds})"))


def test_ctrl_c_while_the_helper_waits_ends_it_and_the_transaction(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _slow_constraints(monkeypatch)
    tables = pg._tables

    def interrupted(*args: Any) -> Any:
        tables(*args)
        time.sleep(0.3)  # the helper is in pg_sleep by now
        raise KeyboardInterrupt

    monkeypatch.setattr(pg, "_tables", interrupted)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        pg.collect(parse_dsn(dsn), OPTIONS)
    took = time.perf_counter() - started
    assert took < 10, f"Ctrl-C took {took:.1f} s to end the collection (the server's sleep: 20 s)"
    assert not _helper_alive()
    assert _no_dbaudit_backend(dsn)


def test_a_lost_connection_mid_catalog_ends_the_scan_with_one_line(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def kill(session: Session) -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (session.conn.info.backend_pid,))

    _before(monkeypatch, "tables", kill)  # read by the first session (indexes.sql: by the second, see below)
    with pytest.raises(ScanInterrupted, match="lost the connection"):
        pg.collect(parse_dsn(dsn), OPTIONS)
    assert not _helper_alive()
    assert _no_dbaudit_backend(dsn)


def test_the_overall_timeout_cuts_a_catalog_query(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _slow_constraints(monkeypatch)
    started = time.perf_counter()
    snap = pg.collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False, timeout_s=3))
    took = time.perf_counter() - started
    # the catalog's statements run under a statement_timeout of what is left of --timeout (less the checks'
    # reserve): the server ends the sleep, the areas read are kept, the snapshot is partial
    assert snap.interrupted is not None
    assert snap.interrupted.startswith("--timeout 3 s reached while the catalog was read; not read: constraints")
    assert {t.name for t in snap.tables} >= {"early", "late"}
    assert took < 3.5, f"--timeout 3 ended the collection after {took:.1f} s"
    assert not _helper_alive()
