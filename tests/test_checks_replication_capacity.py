"""RP01-RP02 and CP01-CP02 on small snapshots: each fires, stays silent on its look-alike, and has its edge.

MySQL 8's replica status is tested on recorded rows (no MySQL 8 server here): the column spellings of
SHOW REPLICA STATUS (8.0.22+) and of MariaDB's SHOW ALL SLAVES STATUS go through the same parser.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from auditor.connectors.mysql.replication import replica_grant, replica_sql, replica_status
from auditor.engine import iter_hits, load_checks, unmet_precondition
from auditor.model import Column, Hit, Note, Severity, Snapshot, Table
from auditor.replication import STANDBYS_AREA, ReplicaStatus, Replication, ReplicationSlot, Standby
from checks.capacity import PartitionCandidateOptions, ToastHeavyOptions
from checks.replication import ReplicationLagOptions, SlotRetentionOptions
from tests.builders import NOW, snap, table

SPECS = load_checks()
GIB = 1024**3


def hits(code: str, s: Snapshot, opts: object = None) -> list[Hit]:
    spec = SPECS[code]
    assert unmet_precondition(spec, s) is None, unmet_precondition(spec, s)
    return list(iter_hits(spec, s, opts))


def labels(found: list[Hit]) -> list[str]:
    return [h.object.label() for h in found]


def pg(**replication: object) -> Snapshot:
    for area in ("prepared_xacts", "slots", "standbys", "replicas"):
        replication.setdefault(area, ())
    replication.setdefault("server_time", NOW)
    return snap(replication=Replication(**replication))  # type: ignore[arg-type]


# ---- RP01 replication-slot-retaining-wal --------------------------------------------------------------------


def test_rp01_inactive_slot_past_the_floor_and_unreserved_or_lost_slots() -> None:
    s = pg(slots=(
        ReplicationSlot(name="old_replica", slot_type="physical", retained_bytes=5 * GIB, wal_status="extended"),
        ReplicationSlot(name="cdc", slot_type="logical", active=True, retained_bytes=3 * GIB,
                        wal_status="unreserved"),
        ReplicationSlot(name="gone", slot_type="physical", wal_status="lost"),
    ))
    found = hits("RP01", s)
    assert labels(found) == ["slot old_replica", "slot cdc", "slot gone"]
    assert found[2].severity is Severity.ERROR and "lost" in found[2].message
    assert "pg_drop_replication_slot('old_replica')" in (found[0].remediation or "")
    assert "max_slot_wal_keep_size" in (found[0].remediation or "")


def test_rp01_a_bound_already_set_is_never_proposed_lower() -> None:
    slots = (ReplicationSlot(name="old_replica", slot_type="physical", retained_bytes=5 * GIB,
                             wal_status="extended"),
             ReplicationSlot(name="cdc", slot_type="logical", active=True, retained_bytes=231 * 1024**2,
                             wal_status="unreserved"))
    base = pg(slots=slots)
    bounded = replace(base, settings={**base.settings, "max_slot_wal_keep_size": "64MB"})
    old, cdc = hits("RP01", bounded)
    assert (old.remediation or "").splitlines() == ["SELECT pg_drop_replication_slot('old_replica');  -- if its "
                                                     "consumer is gone for good"]
    assert "max_slot_wal_keep_size = 64 MB bounds it" in old.message
    assert "past max_slot_wal_keep_size = 64 MB" in cdc.message and "connected but behind" in cdc.message
    assert "pg_drop_replication_slot" not in (cdc.remediation or "")
    assert "max_slot_wal_keep_size = '1GB'" in (cdc.remediation or "")


def test_rp01_silent_for_a_briefly_disconnected_consumer_and_active_slots() -> None:
    s = pg(slots=(
        ReplicationSlot(name="blip", slot_type="physical", retained_bytes=GIB - 1, wal_status="reserved"),
        ReplicationSlot(name="busy", slot_type="physical", active=True, retained_bytes=20 * GIB,
                        wal_status="extended"),
    ))
    assert hits("RP01", s) == []
    assert labels(hits("RP01", s, SlotRetentionOptions(min_retained_bytes=GIB - 1))) == ["slot blip"]


# ---- RP02 replication-lag ----------------------------------------------------------------------------------


def test_rp02_standbys_behind_by_time_or_bytes() -> None:
    s = pg(standbys=(
        Standby(pid=1, application_name="replica1", replay_lag_s=120.0, replay_lag_bytes=10_000),
        Standby(pid=2, application_name="replica2", replay_lag_s=None, replay_lag_bytes=2 * GIB),
        Standby(pid=3, application_name="replica3", replay_lag_s=59.9, replay_lag_bytes=10),
        Standby(pid=4, application_name="idle", replay_lag_s=None, replay_lag_bytes=0),
    ))
    assert labels(hits("RP02", s)) == ["standby replica1", "standby replica2"]
    assert labels(hits("RP02", s, ReplicationLagOptions(max_lag_s=59.9))) == [
        "standby replica1", "standby replica2", "standby replica3"]


def test_rp02_on_a_standby_and_the_idle_primary_guard() -> None:
    old = NOW - timedelta(hours=2)
    lagging = pg(in_recovery=True, replicas=(ReplicaStatus(receive_lsn="0/5000000", replay_lsn="0/4000000",
                                                            receive_replay_bytes=16 * 1024**2,
                                                            last_replay_at=old),))
    (h,) = hits("RP02", lagging)
    assert h.object.label() == "replica" and "2 h old" in h.message
    idle = pg(in_recovery=True, replicas=(ReplicaStatus(receive_lsn="0/5000000", replay_lsn="0/5000000",
                                                         receive_replay_bytes=0, last_replay_at=old),))
    assert hits("RP02", idle) == []
    paused = pg(in_recovery=True, replicas=(ReplicaStatus(receive_replay_bytes=0, replay_paused=True,
                                                           last_replay_at=NOW),))
    (p,) = hits("RP02", paused)
    assert p.remediation == "SELECT pg_wal_replay_resume();"


def test_rp02_on_a_standby_a_moving_replay_is_not_lag_a_still_one_is() -> None:
    """A primary writing without committing: a few bytes waiting, an old last commit, replay moving."""
    old = NOW - timedelta(minutes=5)

    def standby(moved: int | None, waiting: int = 72) -> Snapshot:
        return pg(in_recovery=True, replicas=(ReplicaStatus(receive_lsn="0/325C6000", replay_lsn="0/325C5FB8",
                                                            receive_replay_bytes=waiting, last_replay_at=old,
                                                            replay_moved_bytes=moved),))
    assert hits("RP02", standby(moved=8192)) == []
    (still,) = hits("RP02", standby(moved=0))
    assert "did not move in half a second" in still.message and still.details["replay_moved_bytes"] == 0
    # an old snapshot without the second reading keeps the rule on time alone
    assert len(hits("RP02", standby(moved=None))) == 1
    # a moving replay past the byte floor is still lag
    assert len(hits("RP02", standby(moved=8192, waiting=1024**3))) == 1


def test_rp02_skipped_when_standby_positions_are_hidden() -> None:
    s = snap(replication=Replication(standbys=(Standby(pid=1),), standbys_complete=False, replicas=()),
             notes=(Note(area=STANDBYS_AREA, message="hidden", enable="GRANT pg_monitor TO app"),))
    unmet = unmet_precondition(SPECS["RP02"], s)
    assert unmet is not None and unmet.enable == "GRANT pg_monitor TO app"


# recorded SHOW REPLICA STATUS rows (MySQL 8.0.36) and SHOW ALL SLAVES STATUS rows (MariaDB 10.11), trimmed
MYSQL8_ROW = {"Replica_IO_State": "Waiting for source to send event", "Source_Host": "10.0.0.1", "Source_Port": 3306,
              "Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes", "Seconds_Behind_Source": 900,
              "Last_IO_Error": "", "Last_SQL_Error": "", "SQL_Delay": 0, "Channel_Name": ""}
MYSQL8_STOPPED = {**MYSQL8_ROW, "Replica_SQL_Running": "No", "Seconds_Behind_Source": None,
                  "Last_SQL_Error": "Could not execute Write_rows event on table shop.orders; Duplicate entry '7'",
                  "Channel_Name": "eu"}
MARIADB_ROW = {"Connection_name": "", "Slave_IO_State": "", "Master_Host": "10.0.0.2", "Master_Port": 3306,
               "Slave_IO_Running": "Connecting", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": None,
               "Last_IO_Error": "error connecting to master 'repl@10.0.0.2:3306' - retry-time: 60",
               "Last_SQL_Error": "", "SQL_Delay": 0}


def mysql(*rows: dict[str, object], flavor: str = "mysql", version: int = 80036) -> Snapshot:
    return snap(engine="mysql", flavor=flavor, server_version_num=version,
                replication=Replication(server_time=NOW, replicas=tuple(replica_status(r) for r in rows)))


def test_rp02_mysql8_spelling_lag_and_a_stopped_channel() -> None:
    lag, stopped = hits("RP02", mysql(MYSQL8_ROW, MYSQL8_STOPPED))
    assert lag.message == "replication from 10.0.0.1:3306 is 15 min behind" and lag.severity is None
    assert stopped.severity is Severity.ERROR and "Duplicate entry" in stopped.message
    assert stopped.remediation is not None and stopped.remediation.endswith("START REPLICA FOR CHANNEL 'eu';")
    assert replica_sql("mysql", 80036) == "replica_status.mysql8"
    assert replica_sql("mysql", 80021) == "replica_status.mysql57"
    assert replica_grant("mysql", 80036, "'audit'@'%'") == "GRANT REPLICATION CLIENT ON *.* TO 'audit'@'%'"


def test_rp02_mariadb_spelling_io_thread_connecting() -> None:
    (h,) = hits("RP02", mysql(MARIADB_ROW, flavor="mariadb", version=101106))
    assert h.severity is Severity.ERROR and "I/O thread Connecting" in h.message
    assert h.remediation is not None and h.remediation.endswith("START SLAVE;")
    assert replica_grant("mariadb", 101106, "'audit'@'%'") == "GRANT SLAVE MONITOR ON *.* TO 'audit'@'%'"


def test_rp02_mysql_edge_a_delayed_replica_and_a_primary() -> None:
    at_edge = {**MYSQL8_ROW, "Seconds_Behind_Source": 60}
    assert len(hits("RP02", mysql(at_edge))) == 1
    assert hits("RP02", mysql({**MYSQL8_ROW, "Seconds_Behind_Source": 59})) == []
    delayed = {**MYSQL8_ROW, "Seconds_Behind_Source": 3000, "SQL_Delay": 3600}
    assert hits("RP02", mysql(delayed)) == []
    assert hits("RP02", mysql()) == []  # a primary: no channel


def test_rp02_mysql_skipped_with_the_grant_when_not_readable() -> None:
    s = snap(engine="mysql", replication=Replication(server_time=NOW, replicas=None),
             notes=(Note(area="replica_status", message="denied",
                         enable="GRANT REPLICATION CLIENT ON *.* TO 'audit'@'%'"),))
    unmet = unmet_precondition(SPECS["RP02"], s)
    assert unmet is not None and unmet.enable == "GRANT REPLICATION CLIENT ON *.* TO 'audit'@'%'"


# ---- CP01 toast-heavy-table --------------------------------------------------------------------------------


def _sized(name: str, heap: int, toast: int, columns: tuple[str, ...] = ("id", "body jsonb")) -> Table:
    t = table(name, columns)
    return Table(**{**t.__dict__, "table_bytes": heap, "toast_bytes": toast, "total_bytes": heap + toast})


def test_cp01_toast_many_times_the_heap_and_large() -> None:
    (h,) = hits("CP01", snap(_sized("documents", 2 * GIB, 40 * GIB)))
    assert h.object.label() == "public.documents" and h.details["toastable_columns"] == ["body"]
    assert "ALTER COLUMN body SET COMPRESSION lz4" in (h.remediation or "")


def test_cp01_silent_on_small_toast_and_a_modest_ratio_with_edges() -> None:
    small = _sized("notes", 1024**2, 900 * 1024**2)  # 900 MB of TOAST, 900 times the heap: still small
    modest = _sized("pages", 2 * GIB, 7 * GIB)  # 3.5 times
    assert hits("CP01", snap(small, modest)) == []
    assert labels(hits("CP01", snap(modest), ToastHeavyOptions(min_toast_ratio=3.5))) == ["public.pages"]
    edge = _sized("edge", GIB // 4, GIB)
    assert labels(hits("CP01", snap(edge))) == ["public.edge"]
    assert hits("CP01", snap(edge), ToastHeavyOptions(min_toast_bytes=GIB + 1)) == []


# ---- CP02 partition-candidate -------------------------------------------------------------------------------


def _big(name: str, rows: int, columns: tuple[str, ...], **extra: object) -> Table:
    t = table(name, columns, rows=rows)
    return Table(**{**t.__dict__, "total_bytes": 60 * GIB, **extra})


def test_cp02_big_table_with_a_time_or_tenant_column() -> None:
    events = _big("events", 400_000_000, ("id bigint", "kind int", "created_at timestamp with time zone"))
    tenants = _big("usage", 150_000_000, ("id bigint", "tenant_id bigint", "amount numeric"))
    found = hits("CP02", snap(events, tenants))
    assert labels(found) == ["public.events", "public.usage"]
    assert found[0].details["method"] == "range" and found[0].details["partition_key"] == "created_at"
    assert "PARTITION BY RANGE (created_at)" in (found[0].remediation or "")
    assert found[1].details["method"] == "list" and found[1].details["partition_key"] == "tenant_id"


def test_cp02_silent_on_partitioned_tables_partitions_and_tables_without_a_key() -> None:
    parent = _big("logs", 300_000_000, ("id", "at timestamp"), kind="partitioned")
    child = _big("logs_2026", 300_000_000, ("id", "at timestamp"), is_partition=True, parent="public.logs")
    no_key = _big("hashes", 500_000_000, ("digest bytea", "seen int"))
    mysql_partitioned = _big("clicks", 500_000_000, ("id", "created_at datetime"), partitioned=True)
    small = _big("recent", 99_999_999, ("id", "created_at timestamp"))
    assert hits("CP02", snap(parent, child, no_key, mysql_partitioned, small)) == []
    assert labels(hits("CP02", snap(small), PartitionCandidateOptions(min_rows=99_999_999))) == ["public.recent"]
    assert labels(hits("CP02", snap(small), PartitionCandidateOptions(min_total_gb=60))) == ["public.recent"]


def test_cp02_on_mysql_rebuilds_with_range_columns() -> None:
    t = _big("clicks", 200_000_000, ("id bigint", "created_at datetime"))
    (h,) = hits("CP02", snap(t, engine="mysql"))
    assert "ALTER TABLE `public`.`clicks`\n    PARTITION BY RANGE COLUMNS (`created_at`)" in (h.remediation or "")


def test_time_column_prefers_a_not_null_creation_time() -> None:
    from checks.capacity import _time_column

    t = table("x", [Column("updated_at", "timestamp", position=1),
                    Column("created_at", "timestamp", nullable=False, position=2)])
    assert _time_column(t) is not None and _time_column(t).name == "created_at"  # type: ignore[union-attr]
