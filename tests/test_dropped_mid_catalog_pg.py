"""A table an application drops while the catalog is read is left out with a note, on a real PostgreSQL.

The catalog's REPEATABLE READ snapshot still shows a table dropped after it was taken, but the server's deparsing
functions (pg_get_constraintdef, pg_get_expr, pg_get_indexdef) look the table up in the current catalog: they
failed with "cache lookup failed for attribute 3 of relation ...", and the whole scan ended with exit 2 and no
report (an application's DROP TABLE during the scan's first seconds). The relations gone since the snapshot are
now found as the locked ones are, and the area is read again without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
import pytest

from auditor.connectors import CollectOptions, collect
from auditor.connectors.postgres.session import Session
from auditor.dsn import parse_dsn
from tests.conftest import NewDb

SEED = """
CREATE TABLE keeper (id int PRIMARY KEY, qty int CHECK (qty > 0));
CREATE TABLE victim (id int PRIMARY KEY, a int, b int CHECK (b > a), c int GENERATED ALWAYS AS (a + b) STORED,
                     keeper_id int REFERENCES keeper (id));
CREATE INDEX victim_expr ON victim ((a * 2)) WHERE b > 0;
"""


@pytest.mark.parametrize("area", ["tables", "columns", "constraints", "indexes"])
def test_a_table_dropped_after_the_snapshot_is_left_out_with_a_note(
        pg_new_db: NewDb, monkeypatch: pytest.MonkeyPatch, area: str) -> None:
    dsn = pg_new_db(SEED)
    original = Session.query
    dropped: list[str] = []
    sent: list[str] = []  # the areas whose query was sent, by either catalog session
    read_before: list[str] = []  # those sent before the DROP committed

    def query(self: Session, name: str, params: Mapping[str, Any], names: Mapping[str, str] | None = None
              ) -> list[dict[str, Any]]:
        if name.startswith(area) and not dropped and self.in_transaction:
            with psycopg.connect(dsn, autocommit=True) as app:  # the application's DROP, committed
                app.execute("DROP TABLE victim")
            read_before.extend(sent)  # sent before the DROP committed (the other session reads meanwhile)
            dropped.append(name)
        sent.append(name)
        return original(self, name, params, names)

    monkeypatch.setattr(Session, "query", query)
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    assert dropped
    tables = [t.name for t in snap.tables]
    if tables == ["keeper", "victim"]:
        # dropped after the areas that deparse its objects were read: the snapshot shows it whole, as of its time
        # (two sessions read the catalog at once: the other one may have read them before this area's query)
        assert {i.table for i in snap.indexes} == {c.table for c in snap.constraints} == {"keeper", "victim"}
        deparsing = {"columns", "constraints", "indexes"} - {area}
        assert all(any(n.startswith(d) for n in read_before) for d in deparsing), (area, read_before)
    else:
        assert tables == ["keeper"]
        assert {i.table for i in snap.indexes} == {c.table for c in snap.constraints} == {"keeper"}
        (note,) = [n for n in snap.notes if n.area == "locks"]
        assert note.objects == ("public.victim",) and "dropped while the catalog was read" in note.message, note
    assert snap.unread_areas == (), snap.unread_areas


def test_both_messages_of_a_relation_dropped_since_the_snapshot_are_recognised() -> None:
    # the suite once met the second one: the other catalog session's area was running when the DROP committed
    from auditor.connectors.postgres.prefetch import dropped_meanwhile

    assert dropped_meanwhile(psycopg.errors.InternalError_("cache lookup failed for attribute 3 of relation 21225"))
    assert dropped_meanwhile(psycopg.errors.InternalError_("could not open relation with OID 21225"))
    assert not dropped_meanwhile(psycopg.errors.InternalError_("invalid page in block 7 of relation base/5/21225"))
