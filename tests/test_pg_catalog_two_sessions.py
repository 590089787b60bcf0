"""The catalog read by two sessions in one snapshot (auditor/connectors/postgres/prefetch.py, SECOND_SHARE):
the first exports its snapshot, the second imports it and reads its share of the areas, then the sequences'
last values, which the first shares after its COMMIT. On a real PostgreSQL:

- the snapshot is the one a single session reads, even when the schema changes between the export and the import;
- no second session (a role's CONNECTION LIMIT 1, an import the server refuses) or a second session lost while
  reading: the first reads everything, nothing is lost, nothing is noted;
- an application's ALTER TABLE waits for the first session's COMMIT at most, as before: the second has
  committed and holds no lock by then;
- the last values' batches are read once each, by both sessions after their COMMITs; one the second session
  was reading when it was lost is read by the first;
- a scan cut by --timeout while the second session waits on the server leaves no backend behind.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

import auditor.connectors.postgres as pg
from auditor.connectors import CollectOptions
from auditor.connectors.postgres import sequences as sequence_values
from auditor.connectors.postgres.session import Session
from auditor.dsn import parse_dsn
from auditor.model import Snapshot
from tests.test_pg_catalog_prefetch import _before

SCHEMA = """
CREATE TABLE parent (id serial PRIMARY KEY, code text UNIQUE, v int CHECK (v > 0));
CREATE TABLE child (id bigserial PRIMARY KEY, parent_id int REFERENCES parent, note text);
CREATE INDEX child_note_idx ON child (note) WHERE note IS NOT NULL;
CREATE SEQUENCE standalone;
SELECT nextval('standalone'), nextval('standalone');
INSERT INTO parent (code, v) SELECT 'c' || g, g FROM generate_series(1, 50) g;
ANALYZE;
"""

OPTIONS = CollectOptions(sample=False, workload=False)


@pytest.fixture()
def dsn(pg_new_db: Callable[..., str]) -> str:
    return pg_new_db(SCHEMA)


PIDS: dict[int, int] = {}  # id() of a second session -> its server process


@pytest.fixture()
def seconds(monkeypatch: pytest.MonkeyPatch) -> list[Session | BaseException]:
    """Each second session opened (or why it could not be); :data:`PIDS` gets its server process."""
    opened: list[Session | BaseException] = []
    open_imported = pg.open_imported

    def spy(*args: Any) -> Session:
        try:
            session = open_imported(*args)
        except BaseException as exc:
            opened.append(exc)
            raise
        opened.append(session)
        PIDS[id(session)] = session.conn.info.backend_pid
        return session

    monkeypatch.setattr(pg, "open_imported", spy)
    return opened


def _one_session(dsn: str, monkeypatch: pytest.MonkeyPatch) -> Snapshot:
    with monkeypatch.context() as m:
        m.setattr(pg, "CATALOG_SESSIONS", 1)
        snap = pg.collect(parse_dsn(dsn), OPTIONS)
    _gone(dsn)
    return snap


def _gone(dsn: str, timeout_s: float = 10.0) -> None:
    """Wait until no backend is left on the scan's database: a closed connection's backend exits on its own time
    (tens of ms on a loaded machine), and until then it counts against a role's CONNECTION LIMIT and shows in
    the next scan's activity. Watched from the server's ``postgres`` database, not from the scan's."""
    params = parse_dsn(dsn).params
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(host=params["host"], port=params["port"], user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                               (params["dbname"],)).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.02)


def _same(a: Snapshot, b: Snapshot) -> None:
    assert a.tables == b.tables
    assert a.indexes == b.indexes
    assert a.constraints == b.constraints
    assert a.sequences == b.sequences
    assert a.notes == b.notes
    assert a.unread_areas == b.unread_areas
    assert a.activity is not None and b.activity is not None
    # the second session is not shown: dbaudit's own are the first session and the test's
    mine = [b for b in a.activity.backends if b.application_name == "dbaudit"]
    assert len(mine) == len([b for b in b.activity.backends if b.application_name == "dbaudit"]) == 1


def test_two_sessions_read_the_snapshot_one_session_reads(
        dsn: str, monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException]) -> None:
    one = _one_session(dsn, monkeypatch)
    assert seconds == []
    # a table created after the first session's export, before the second's import: neither session sees it,
    # nor its primary key's index and constraint (tables.sql and constraints.sql are the first's, indexes.sql the
    # second's)
    import_snapshot = Session.import_snapshot

    def meanwhile(self: Session, snapshot: str, limits: Any) -> None:
        with psycopg.connect(dsn, autocommit=True) as app:
            app.execute("CREATE TABLE added_meanwhile (id int PRIMARY KEY)")
        import_snapshot(self, snapshot, limits)

    monkeypatch.setattr(Session, "import_snapshot", meanwhile)
    two = pg.collect(parse_dsn(dsn), OPTIONS)
    assert len(seconds) == 1 and isinstance(seconds[0], Session)
    _same(two, one)
    assert {s.name: s.last_value for s in two.sequences}["standalone"] == 2
    # the same round trips, and two more: the second session's BEGIN (with its SETs) and COMMIT
    assert one.queries_sent is not None and two.queries_sent == one.queries_sent + 2
    # the next scan sees them
    after = pg.collect(parse_dsn(dsn), OPTIONS)
    assert after.table("public", "added_meanwhile") is not None
    assert "added_meanwhile_pkey" in {i.name for i in after.indexes}


def test_a_role_with_one_connection_reads_everything_on_it(
        dsn: str, monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException]) -> None:
    role = f"parcat_one_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        admin.execute(f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    try:
        role_dsn = dsn.replace("postgres@", f"{role}@", 1)
        one = _one_session(role_dsn, monkeypatch)
        two = pg.collect(parse_dsn(role_dsn), OPTIONS)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
    assert len(seconds) == 1 and "connection" in str(seconds[0])  # refused: too many connections for the role
    _same(two, one)
    assert two.table("public", "child") is not None and two.unread_areas == ()
    assert {s.name: s.last_value for s in two.sequences}["standalone"] == 2


def test_an_import_the_server_refuses_leaves_the_first_session_alone(
        dsn: str, monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException]) -> None:
    """As behind a pooler that hands the second session another server, or a snapshot no longer there."""
    one = _one_session(dsn, monkeypatch)
    open_imported = pg.open_imported
    monkeypatch.setattr(pg, "open_imported",
                        lambda dsn_, limits, clock, snapshot: open_imported(dsn_, limits, clock, "00000000-0000000F-1"))
    two = pg.collect(parse_dsn(dsn), OPTIONS)
    assert len(seconds) == 1 and "invalid snapshot identifier" in str(seconds[0])
    _same(two, one)


def test_no_second_session_where_the_server_is_short_of_connection_slots(
        dsn: str, monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException]) -> None:
    """The export's round trip also reads the free slots; with fewer than the margin, one session reads all."""
    import auditor.connectors.postgres.session as session_module

    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute(
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int").fetchone()
    assert row is not None
    free_now = row[0] - 1  # this test's admin connection is gone; the scan's first session is one more
    seen: list[tuple[int, int]] = []
    real = session_module._room_for_one_more

    def short(free_slots: int, max_connections: int) -> bool:
        seen.append((free_slots, max_connections))
        assert real(free_slots, max_connections)  # this server has room: the margin is what the test moves
        return real(free_slots, 10 * free_slots + 100)  # as on a server whose slots are nearly all taken

    one = _one_session(dsn, monkeypatch)
    monkeypatch.setattr(session_module, "_room_for_one_more", short)
    two = pg.collect(parse_dsn(dsn), OPTIONS)
    assert len(seen) == 1 and abs(seen[0][0] - free_now) <= 2  # other tests' servers come and go: a margin
    assert seconds == []  # no second connection was even tried
    _same(two, one)
    assert two.unread_areas == ()


def test_the_margin_of_free_slots() -> None:
    from auditor.connectors.postgres.session import _room_for_one_more

    assert _room_for_one_more(100, 100) and _room_for_one_more(6, 20) and not _room_for_one_more(5, 20)
    assert _room_for_one_more(51, 500) and not _room_for_one_more(50, 500)


def test_a_second_session_lost_mid_read_loses_no_area(
        dsn: str, monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException]) -> None:
    one = _one_session(dsn, monkeypatch)

    def kill(session: Session) -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (session.conn.info.backend_pid,))

    _before(monkeypatch, "indexes", kill)  # the second session's: it is read again by the first
    two = pg.collect(parse_dsn(dsn), OPTIONS)
    assert len(seconds) == 1 and isinstance(seconds[0], Session) and seconds[0].conn.closed
    _same(two, one)
    assert "child_note_idx" in {i.name for i in two.indexes}


def _batch_readers(monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException],
                   second_batch: Callable[[Session], object]) -> list[tuple[str, str, bool]]:
    """Each batch of one sequence (BATCH 1: the schema's 3 sequences, 3 batches) as it is sent: the session
    reading it, the sequence, whether that session was in a transaction; ``second_batch`` runs before each of the
    second session's."""
    monkeypatch.setattr(sequence_values, "BATCH", 1)
    readers: list[tuple[str, str, bool]] = []
    read_batch = sequence_values._read_batch

    def spy(session: Session, part: Any) -> Any:
        second = bool(seconds) and session is seconds[0]
        readers.append(("second" if second else "first", part[0].name, session.in_transaction))
        if second:
            second_batch(session)
        return read_batch(session, part)

    monkeypatch.setattr(sequence_values, "_read_batch", spy)
    return readers


def test_both_sessions_read_the_last_values_after_their_commits_each_batch_once(
        dsn: str, monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException]) -> None:
    one = _one_session(dsn, monkeypatch)

    def until_the_first_takes_one(session: Session) -> None:
        # the second session is slow: the first takes the batches left after its COMMIT, it does not wait
        deadline = time.monotonic() + 10
        while not any(who == "first" for who, _, _ in readers) and time.monotonic() < deadline:
            time.sleep(0.01)

    readers = _batch_readers(monkeypatch, seconds, until_the_first_takes_one)
    two = pg.collect(parse_dsn(dsn), OPTIONS)
    _same(two, one)
    assert {s.name: s.last_value for s in two.sequences}["standalone"] == 2
    # every batch once, each in autocommit (no lock beyond its statement), by both sessions
    assert sorted(name for _, name, _ in readers) == sorted(s.name for s in one.sequences), readers
    assert {who for who, _, _ in readers} == {"first", "second"}, readers
    assert not any(in_transaction for _, _, in_transaction in readers), readers


def test_a_second_session_lost_while_reading_last_values_loses_none(
        dsn: str, monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException]) -> None:
    one = _one_session(dsn, monkeypatch)

    def kill(session: Session) -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (session.conn.info.backend_pid,))

    readers = _batch_readers(monkeypatch, seconds, kill)
    two = pg.collect(parse_dsn(dsn), OPTIONS)
    _same(two, one)
    assert {s.name: s.last_value for s in two.sequences}["standalone"] == 2
    # the second session's batch, lost with it, read again by the first; nothing noted
    assert [who for who, _, _ in readers] == ["second", "first", "first", "first"], readers
    assert sorted(name for who, name, _ in readers if who == "first") == sorted(s.name for s in one.sequences)


def _relation_locks(dsn: str, pid: int) -> int:
    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'relation'",
                            (pid,)).fetchone()
    return int(row[0]) if row else -1


def test_ddl_waits_for_the_first_sessions_commit_at_most(
        dsn: str, monkeypatch: pytest.MonkeyPatch, seconds: list[Session | BaseException]) -> None:
    """The catalog's locks end with the first session's COMMIT, as with one session: the second has
    committed before (its share read) and holds none while the first still reads."""
    commits: dict[str, float] = {}
    commit = Session.commit

    def timed(self: Session) -> None:
        commit(self)
        commits["second" if seconds and self is seconds[0] else "first"] = time.perf_counter()

    monkeypatch.setattr(Session, "commit", timed)
    waited: dict[str, float] = {}
    second_locks: list[int] = []

    def alter() -> None:
        with psycopg.connect(dsn, autocommit=True) as app:
            app.execute("SET lock_timeout = '20s'")
            started = time.perf_counter()
            app.execute("ALTER TABLE child ADD COLUMN during_catalog int")
            waited["ended"] = time.perf_counter()
            waited["took"] = waited["ended"] - started

    ddl = threading.Thread(target=alter, daemon=True)
    replication = pg.collect_replication

    def during(*args: Any) -> Any:
        # every area of the second session's share was taken by now: its COMMIT is at most a moment away
        deadline = time.monotonic() + 5
        while "second" not in commits and time.monotonic() < deadline:
            time.sleep(0.01)
        second = seconds[0]
        assert isinstance(second, Session)
        second_locks.append(_relation_locks(dsn, PIDS[id(second)]))
        ddl.start()
        time.sleep(0.5)  # the first session still reads (and holds child's lock from tables.sql)
        return replication(*args)

    monkeypatch.setattr(pg, "collect_replication", during)
    pg.collect(parse_dsn(dsn), OPTIONS)
    ddl.join(timeout=20)
    assert "second" in commits and commits["second"] < commits["first"]
    assert second_locks == [0]
    # waited for the first session's COMMIT, and no longer
    assert waited["ended"] - commits["first"] < 0.3, f"ALTER TABLE ended {waited['ended'] - commits['first']:.2f} s " \
                                                     "after the catalog's COMMIT"


def _dbaudit_backends(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbaudit'"
                            " AND datname = current_database()").fetchone()
    return int(row[0]) if row else -1


def _none_left(dsn: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if _dbaudit_backends(dsn) == 0:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture()
def no_helper() -> Iterator[None]:
    yield
    assert not any(t.name.startswith("dbaudit-catalog") and t.is_alive() for t in threading.enumerate())


def test_the_overall_timeout_ends_both_sessions(dsn: str, monkeypatch: pytest.MonkeyPatch,
                                                seconds: list[Session | BaseException], no_helper: None) -> None:
    assert "indexes" in pg.SECOND_SHARE
    _before(monkeypatch, "indexes", lambda session: session.execute("SELECT pg_sleep(20)"))
    started = time.perf_counter()
    # the second session's statements run under a statement_timeout of what is left of --timeout: the server
    # ends the sleep, the areas read are kept, the snapshot is partial
    snap = pg.collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False, timeout_s=3))
    took = time.perf_counter() - started
    assert snap.interrupted is not None and "--timeout 3 s reached while the catalog was read; not read: " \
        "indexes" in snap.interrupted
    assert took < 3.5, f"--timeout 3 ended the collection after {took:.1f} s"
    assert len(seconds) == 1 and isinstance(seconds[0], Session) and seconds[0].conn.closed
    assert _none_left(dsn), "a dbaudit backend outlived the scan (the second session's pg_sleep)"


def test_ctrl_c_ends_both_sessions(dsn: str, monkeypatch: pytest.MonkeyPatch,
                                   seconds: list[Session | BaseException], no_helper: None) -> None:
    _before(monkeypatch, "indexes", lambda session: session.execute("SELECT pg_sleep(20)"))
    tables = pg._tables

    def interrupted(*args: Any) -> Any:
        tables(*args)
        time.sleep(0.3)  # the second session is in pg_sleep by now
        raise KeyboardInterrupt

    monkeypatch.setattr(pg, "_tables", interrupted)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        pg.collect(parse_dsn(dsn), OPTIONS)
    assert time.perf_counter() - started < 10
    assert _none_left(dsn)

