"""The replication areas of a PostgreSQL collection: prepared transactions, slots, standbys, replay position.

Four bulk queries in the connector's read-only transaction, their rows bounded by server settings
(``max_prepared_transactions``, ``max_replication_slots``, ``max_wal_senders``), never by the schema. The
views are readable by every role, but pg_stat_replication hides the standbys' positions and lags from roles
without pg_read_all_stats: the standbys are then kept without them, marked incomplete, and a note names the
GRANT (the lag check is skipped; a standby is never reported as caught up on figures it could not see).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from auditor.model import Note
from auditor.replication import (
    PREPARED_AREA,
    REPLICA_AREA,
    SLOTS_AREA,
    STANDBYS_AREA,
    PreparedXact,
    ReplicaStatus,
    Replication,
    ReplicationSlot,
    Standby,
)
from auditor.sqlquote import pg_ident

AreaReader = Callable[[str, Mapping[str, Any]], "list[dict[str, Any]] | None"]


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def collect_replication(read: AreaReader, role: str, notes: list[Note]) -> Replication:
    """The areas through ``read`` (the connector's guarded area query); a refused one is None with its note."""
    position_rows = read(REPLICA_AREA, {})
    prepared_rows = read(PREPARED_AREA, {})
    slot_rows = read(SLOTS_AREA, {})
    standby_rows = read(STANDBYS_AREA, {})

    position = position_rows[0] if position_rows else {}
    in_recovery = bool(position.get("in_recovery"))
    replicas: tuple[ReplicaStatus, ...] | None = None
    if position_rows is not None:
        replicas = ()
        if in_recovery:
            replicas = (ReplicaStatus(
                receive_lsn=position["receive_lsn"], replay_lsn=position["replay_lsn"],
                receive_replay_bytes=_int(position["receive_replay_bytes"]),
                last_replay_at=position["last_replay_at"], replay_paused=position["replay_paused"],
                replay_moved_bytes=_int(position.get("replay_moved_bytes")),
            ),)
    standbys = None if standby_rows is None else tuple(_standby(r) for r in standby_rows)
    complete = standby_rows is None or all(r["visible"] for r in standby_rows)
    if standby_rows and not complete:
        grantee = pg_ident(role) if role else "<role>"
        notes.append(Note(
            area=STANDBYS_AREA,
            message=f"role {role or '?'} sees the standbys streaming from this server but not their positions "
                    "and lags: pg_stat_replication shows them to pg_read_all_stats only",
            enable=f"GRANT pg_monitor TO {grantee}",
        ))
    return Replication(
        server_time=position.get("server_time"),
        in_recovery=in_recovery,
        current_lsn=position.get("current_lsn"),
        prepared_xacts=None if prepared_rows is None else tuple(_prepared(r) for r in prepared_rows),
        slots=None if slot_rows is None else tuple(_slot(r) for r in slot_rows),
        standbys=standbys,
        standbys_complete=complete,
        replicas=replicas,
    )


def _prepared(r: Mapping[str, Any]) -> PreparedXact:
    return PreparedXact(gid=str(r["gid"]), prepared=r["prepared"], owner=r["owner"], database=r["database"],
                        xid_age=_int(r["xid_age"]))


def _slot(r: Mapping[str, Any]) -> ReplicationSlot:
    return ReplicationSlot(
        name=str(r["name"]), slot_type=str(r["slot_type"]), plugin=r["plugin"], database=r["database"],
        active=bool(r["active"]), active_pid=_int(r["active_pid"]), temporary=bool(r["temporary"]),
        xmin_age=_int(r["xmin_age"]), catalog_xmin_age=_int(r["catalog_xmin_age"]), restart_lsn=r["restart_lsn"],
        retained_bytes=_int(r["retained_bytes"]), wal_status=r["wal_status"],
        safe_wal_size=_int(r["safe_wal_size"]), inactive_since=r["inactive_since"],
    )


def _standby(r: Mapping[str, Any]) -> Standby:
    return Standby(
        pid=int(r["pid"]), user=r["user"], application_name=r["application_name"], client_addr=r["client_addr"],
        state=r["state"], sync_state=r["sync_state"], slot=r["slot"], sent_lsn=r["sent_lsn"],
        replay_lsn=r["replay_lsn"], replay_lag_bytes=_int(r["replay_lag_bytes"]),
        write_lag_s=_float(r["write_lag_s"]), flush_lag_s=_float(r["flush_lag_s"]),
        replay_lag_s=_float(r["replay_lag_s"]), xmin_age=_int(r["xmin_age"]),
    )
