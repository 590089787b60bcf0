from datetime import UTC, datetime

from auditor.model import (
    Column,
    ColumnRef,
    Index,
    IndexKey,
    Sequence,
    Snapshot,
    Table,
    snapshot_from_json,
    snapshot_to_json,
)


def test_snapshot_round_trips_through_json() -> None:
    snap = Snapshot(
        engine="postgresql",
        collected_at=datetime(2026, 11, 24, 21, 0, tzinfo=UTC),
        settings={"max_connections": "100"},
        tables=(Table("public", "t", estimated_rows=3, columns=(Column("id", "integer", nullable=False),)),),
        indexes=(Index("public", "t", "t_pkey", keys=(IndexKey("id"),), is_primary=True),),
        sequences=(Sequence("public", "t_id_seq", feeds=(ColumnRef("public", "t", "id", "integer"),)),),
    )
    again = snapshot_from_json(snapshot_to_json(snap))
    assert again == snap
    assert again.indexes_of("public", "t")[0].columns == ("id",)
    assert again.collected_at is not None and again.collected_at.tzinfo is not None


def test_unknown_keys_from_newer_writers_are_ignored() -> None:
    text = snapshot_to_json(Snapshot(engine="postgresql")).replace('"engine"', '"future_field": 1, "engine"', 1)
    assert snapshot_from_json(text).engine == "postgresql"
