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


def test_posture_round_trips_through_json() -> None:
    from auditor.posture import (
        CheckpointStats,
        DatabaseStats,
        DefinerFunction,
        HbaRule,
        Posture,
        RelationIo,
        Role,
        RoleSetting,
        SchemaPrivileges,
        ServerSetting,
        UserStatements,
    )

    posture = Posture(
        login="auditor",
        settings=(ServerSetting("shared_buffers", "16384", unit="8kB", boot_value="16384", source="default",
                                context="postmaster"),),
        role_settings=(RoleSetting("app", None, {"statement_timeout": "5s"}),),
        roles=(Role("app", password="scram-sha-256", member_of=("pg_read_all_data",),
                    valid_until=datetime(2027, 1, 1, tzinfo=UTC)),
               Role("shop", host="%", plugin="mysql_native_password", password="empty",
                    global_privileges=("SELECT", "INSERT"), grant_option=True)),
        passwords_known=True,
        hba_rules=(HbaRule(3, "host", ("all",), ("all",), "127.0.0.1", "255.255.255.255", "trust"),),
        schema_privileges=(SchemaPrivileges("public", "postgres", public_create=True),),
        definer_functions=(DefinerFunction("app", "f", "integer", config=("search_path=app, pg_temp",)),),
        database_stats=DatabaseStats(blks_read=1, blks_hit=99, stats_reset=datetime(2026, 1, 1, tzinfo=UTC)),
        checkpoints=CheckpointStats("pg_stat_bgwriter", timed=10, requested=2, write_ms=1.5),
        io=(RelationIo("app", "t", None, 1, 2), RelationIo("app", "t", "t_pkey", 3, 4)),
        status={"Max_used_connections": "7"},
        user_statements=(UserStatements("shop", dml=10, other=2),),
    )
    snap = Snapshot(engine="postgresql", posture=posture)
    again = snapshot_from_json(snapshot_to_json(snap))
    assert again == snap
    assert again.posture is not None and again.posture.setting("shared_buffers") is not None
    assert again.posture.setting("shared_buffers").bytes() == 128 * 1024 * 1024  # type: ignore[union-attr]
    assert again.posture.definer_functions[0].search_path == "app, pg_temp"  # type: ignore[index]
    assert again.posture.roles[1].account == "'shop'@'%'"  # type: ignore[index]


def test_objects_of_one_shape_are_each_checked() -> None:
    """The loader remembers what it did for the first object of a shape (auditor.model.build_dataclass): the
    next ones of that shape are still checked, and a bad value among them is named by its path."""
    import json

    import pytest

    from auditor.model import SnapshotFieldError, snapshot_from_dict

    columns = [{"name": f"c{i}", "data_type": "integer", "null_frac": 0.5, "nullable": False} for i in range(3)]
    tables = [{"schema": "public", "name": f"t{i}", "columns": columns} for i in range(3)]
    data = {"engine": "postgresql", "tables": tables}
    snap = snapshot_from_dict(json.loads(json.dumps(data)))
    assert snap.tables[2].columns[1] == Column("c1", "integer", nullable=False, null_frac=0.5)
    assert snap.tables[1].stats is not snap.tables[2].stats  # each a fresh default
    for bad, path, reason in ((float("inf"), "null_frac", "expected a finite number"),
                              (float("nan"), "null_frac", "expected a finite number")):
        broken = json.loads(json.dumps(data))
        broken["tables"][2]["columns"][1][path] = bad
        with pytest.raises(SnapshotFieldError) as error:
            snapshot_from_dict(broken)
        assert str(error.value).startswith(f"tables[2].columns[1].{path}: {reason}")
    # a key missing from a later object gives another shape, checked in full
    broken = json.loads(json.dumps(data))
    del broken["tables"][2]["columns"][1]["name"]
    with pytest.raises(SnapshotFieldError, match=r"tables\[2\]\.columns\[1\]\.name: missing"):
        snapshot_from_dict(broken)
