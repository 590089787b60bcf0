"""dbaudit's second connections leave the applications their connection slots (rt18): on a server with fewer than
5 free slots (or a tenth of max_connections), neither the catalog's second session nor the sample's lock watcher
is opened; the watcher's absence is noted. The margin is moved in the test, the free slots are the server's."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import auditor.connectors.postgres as pg
import auditor.connectors.postgres.session as session_module
from auditor.connectors import CollectOptions
from auditor.dsn import parse_dsn
from tests.conftest import NewDb

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, zip text, city text);
INSERT INTO customers SELECT g, 'z' || (g % 50), 'c' || (g % 50) FROM generate_series(1, 2000) g;
ANALYZE;
"""


def test_a_crowded_server_gets_no_second_connection_and_the_note_says_why(
        pg_new_db: NewDb, monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = pg_new_db(SCHEMA)
    real = session_module._room_for_one_more
    asked: list[tuple[int, int]] = []

    def crowded(free_slots: int, max_connections: int) -> bool:
        asked.append((free_slots, max_connections))
        assert real(free_slots, max_connections)  # the test server has room: the margin is what moves
        return False

    monkeypatch.setattr(session_module, "_room_for_one_more", crowded)
    opened: list[Any] = []
    connect = pg.connect
    monkeypatch.setattr(pg, "connect", lambda *a, **k: opened.append(a) or connect(*a, **k))
    snap = pg.collect(parse_dsn(dsn), CollectOptions(workload=False))
    assert len(asked) == 2  # the catalog's second session, then the sample's watcher
    assert opened == []  # the watcher's connection was never opened
    assert snap.sampling is not None and snap.sampling.enabled
    assert [t.table for t in snap.sampling.tables] == ["customers"]
    notes = [n.message for n in snap.notes if n.area == "sampling"]
    assert any("could not watch for sessions waiting on the sample's locks" in n
               and "would wait for that table's sample to end" in n and "waited" not in n
               and "connection slots free of max_connections" in n and "leaves at least" in n for n in notes), notes
    with psycopg.connect(dsn, autocommit=True) as conn:  # nothing of dbaudit's is left on the server
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbaudit'"
                           " AND state <> 'idle'").fetchone()
    assert row is not None and row[0] == 0
