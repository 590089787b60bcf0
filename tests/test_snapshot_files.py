"""Snapshot files at scale (issue 15): compact, optionally gzipped, read back to the same snapshot."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from auditor.audit import load_snapshot
from auditor.errors import SnapshotFileError
from auditor.model import Column, Note, Snapshot, _compact, snapshot_from_json, snapshot_to_json
from tests.scale import scale_snapshot


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return scale_snapshot(300, 200)


def test_compact_file_reads_back_the_same_snapshot(snapshot: Snapshot) -> None:
    text = snapshot_to_json(snapshot)
    assert "\n" not in text  # no indentation: Python writes it in C only without
    assert snapshot_from_json(text) == snapshot
    assert snapshot_from_json(snapshot_to_json(snapshot, indent=1)) == snapshot


def test_records_leave_out_their_defaults_and_summaries_stay_whole() -> None:
    snap = Snapshot(engine="postgresql", notes=(Note(area="tables", message="m"),))
    data = json.loads(snapshot_to_json(snap))
    assert data["format_version"] == snap.format_version
    assert data["notes"] == [{"area": "tables", "message": "m", "objects": [], "enable": None}]
    assert data["tables"] == []  # the snapshot's own fields: whole
    assert _compact(Column("id", "integer", nullable=False)) == {"name": "id", "data_type": "integer",
                                                                  "nullable": False}


def test_gzipped_file_is_read(snapshot: Snapshot, tmp_path: Path) -> None:
    path = tmp_path / "snap.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(snapshot_to_json(snapshot))
    assert load_snapshot(str(path)) == snapshot


def test_gzip_that_inflates_past_the_limit_stops_there(tmp_path: Path) -> None:
    path = tmp_path / "bomb.json.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b'{"engine": "postgresql", "database": "' + b"x" * 5_000_000 + b'"}')
    assert path.stat().st_size < 100_000
    with pytest.raises(SnapshotFileError, match="once decompressed"):
        load_snapshot(str(path), max_bytes=1_000_000)


def test_damaged_gzip_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.json.gz"
    whole = gzip.compress(b'{"engine": "postgresql"}' * 1000)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SnapshotFileError, match="damaged gzip"):
        load_snapshot(str(path))


def test_a_bad_field_is_still_named(snapshot: Snapshot) -> None:
    data = json.loads(snapshot_to_json(snapshot))
    data["tables"][7]["columns"][2]["nullable"] = "yes"
    with pytest.raises(ValueError, match=r"tables\[7\]\.columns\[2\]\.nullable: expected true or false"):
        snapshot_from_json(json.dumps(data))
    data = json.loads(snapshot_to_json(snapshot))
    del data["indexes"][3]["name"]
    with pytest.raises(ValueError, match=r"indexes\[3\]\.name: missing"):
        snapshot_from_json(json.dumps(data))
