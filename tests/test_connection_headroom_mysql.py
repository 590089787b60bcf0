"""MySQL/MariaDB: the sample's lock watcher, a second connection, is not opened where the applications would be
left short of connection slots (rt18, the PostgreSQL case): Threads_connected and max_connections as the
catalog read them; the note says why. The margin is moved in the test, the figures are the server's."""

from __future__ import annotations

from typing import Any

import pytest

import auditor.connectors.mysql as my
from auditor.connectors import CollectOptions
from auditor.dsn import parse_dsn
from tests.mysql_support import NewMySqlDb, mysql_new_db, mysql_server  # noqa: F401  (pytest fixtures)

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, zip varchar(10), city varchar(20)) ENGINE=InnoDB;
INSERT INTO customers SELECT seq, CONCAT('z', seq % 50), CONCAT('c', seq % 50) FROM seq_1_to_2000;
ANALYZE TABLE customers;
"""


def test_a_crowded_server_gets_no_watcher_and_the_note_says_why(
        mysql_new_db: NewMySqlDb, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    dsn = mysql_new_db(SCHEMA)
    real = my.room_for_one_more
    asked: list[tuple[int, int]] = []

    def crowded(free_slots: int, max_connections: int) -> bool:
        asked.append((free_slots, max_connections))
        assert real(free_slots, max_connections)  # the test server has room: the margin is what moves
        return False

    monkeypatch.setattr(my, "room_for_one_more", crowded)
    connects: list[Any] = []
    connect = my._connect
    monkeypatch.setattr(my, "_connect", lambda *a, **k: connects.append(a) or connect(*a, **k))
    snap = my.collect(parse_dsn(dsn), CollectOptions(workload=False))
    assert len(asked) == 1 and asked[0][1] > 0
    assert len(connects) == 1  # the scan's own session; the watcher's was never opened
    assert snap.sampling is not None and snap.sampling.enabled
    assert [t.table for t in snap.sampling.tables] == ["customers"]
    notes = [n.message for n in snap.notes if n.area == "sampling"]
    assert any("could not watch for sessions waiting on the sample's locks" in n
               and "would wait for that table's sample to end" in n and "waited" not in n
               and "connection slots free of max_connections" in n for n in notes), notes
