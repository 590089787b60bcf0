"""Replication: slots that keep WAL for consumers that are gone, replicas that fall behind."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.engine import Precondition, Unmet, check
from auditor.model import Hit, ObjectRef, Severity, Snapshot
from auditor.replication import STANDBYS_AREA, ReplicaStatus, ReplicationSlot
from auditor.sqlquote import pg_literal
from auditor.textfmt import duration
from checks._operations import requires_replication, server_now
from checks._posture import BOTH, size

GIB = 1024**3


# ------------------------------------------------------------------------------------------------------------
# RP01 replication-slot-retaining-wal
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotRetentionOptions:
    # max_wal_size's built-in default: a slot keeping more WAL than the server keeps for itself between checkpoints
    min_retained_bytes: int = GIB


@check(code="RP01", name="replication-slot-retaining-wal", severity=Severity.WARNING, engines=("postgresql",),
       options=SlotRetentionOptions, reads=(),
       not_applicable={"mysql": "MySQL/MariaDB have no replication slots: binary logs expire by "
                                "binlog_expire_logs_seconds"},
       requires=(requires_replication(postgresql=("slots",)),))
def replication_slot_retaining_wal(snap: Snapshot, opts: SlotRetentionOptions) -> Iterator[Hit]:
    """An inactive replication slot keeping a growing pile of WAL, or a slot about to lose (or that lost) its WAL.

    ## What it does
    Flags an inactive slot (no consumer connected) whose `restart_lsn` keeps at least `min_retained_bytes` of
    WAL on disk, and any slot whose `wal_status` (PostgreSQL 13+) is `unreserved` (it keeps more than
    `max_slot_wal_keep_size`: the next checkpoint removes WAL it needs) or `lost` (error: the slot can no longer
    serve its consumer). `extended` (past `max_wal_size`, still kept) is not a finding by itself.
    An inactive slot under the byte floor is a consumer briefly disconnected, not a finding.

    ## Why is this bad?
    PostgreSQL never removes WAL a slot still needs. A slot whose standby or subscriber went away keeps every
    WAL segment from then on, until `pg_wal` fills the disk and the primary stops. A lost slot is worse than
    useless: its consumer must be rebuilt, and the slot may still hold back vacuum through its xmin.

    ## Example
    A decommissioned replica's physical slot, or a CDC connector's logical slot left behind after a
    migration.

    ## Fix
    ```sql
    SELECT pg_drop_replication_slot('old_replica');  -- when its consumer is gone for good
    ALTER SYSTEM SET max_slot_wal_keep_size = '50GB'; -- bound what any slot may keep (PostgreSQL 13+)
    SELECT pg_reload_conf();
    ```
    The bound is proposed only while `max_slot_wal_keep_size` is unset (-1). An `unreserved` slot has crossed
    the bound already: drop it if its consumer is gone, otherwise let the consumer catch up or, if pg_wal's
    disk has room, raise the limit above what the slot keeps (the printed value is at least twice that).

    ## Options
    - `min_retained_bytes` (default 1 GiB): the built-in `max_wal_size`, the WAL the server itself keeps
      between checkpoints; a slot keeping more for a consumer that is not there is worth a look.

    ## Known problems
    A consumer that reconnects on a schedule (a nightly logical export) is inactive most of the time by design:
    ignore its slot with a reason, or raise the floor.

    ## References
    - https://www.postgresql.org/docs/current/view-pg-replication-slots.html
    - https://www.postgresql.org/docs/current/runtime-config-replication.html#GUC-MAX-SLOT-WAL-KEEP-SIZE
    - pg-extras / PgHero (replication slots), Amazon RDS "Resolving identifiable vacuum blockers"
    """
    assert snap.replication is not None
    keep = slot_keep_limit(snap)
    for slot in snap.replication.slots or ():
        status = (slot.wal_status or "").lower()
        retained = slot.retained_bytes
        if status == "lost":
            yield Hit(
                object=_slot_ref(slot),
                message=f"replication slot {slot.name} ({slot.slot_type}) has lost the WAL its consumer needs "
                        "(wal_status = lost): the consumer can no longer catch up through it",
                details=_slot_details(slot),
                remediation=f"SELECT pg_drop_replication_slot({pg_literal(slot.name)});  -- rebuild its standby "
                            "or resynchronize its subscriber",
                severity=Severity.ERROR,
            )
        elif status == "unreserved":
            limit = f"max_slot_wal_keep_size = {size(keep)}" if keep is not None else "max_slot_wal_keep_size"
            state = "its consumer is connected but behind" if slot.active else "its consumer is not connected"
            yield Hit(
                object=_slot_ref(slot),
                message=f"replication slot {slot.name} ({slot.slot_type}) keeps {size(retained)} of WAL, past "
                        f"{limit} (wal_status = unreserved; {state}): the next checkpoint removes WAL it needs "
                        "and the slot is then lost",
                details=_slot_details(slot),
                remediation=_unreserved_fix(slot, keep),
            )
        elif not slot.active and retained is not None and retained >= opts.min_retained_bytes:
            since = f" since {slot.inactive_since:%Y-%m-%d %H:%M} UTC" if slot.inactive_since else ""
            bounded = (f"; max_slot_wal_keep_size = {size(keep)} bounds it (the slot is lost past that)"
                       if keep is not None else "; it grows until pg_wal fills the disk")
            yield Hit(
                object=_slot_ref(slot),
                message=f"inactive replication slot {slot.name} ({slot.slot_type}) keeps {size(retained)} of WAL "
                        f"for a consumer that is not connected{since}{bounded}",
                details=_slot_details(slot),
                remediation=_drop_or_bound(slot, keep),
            )


def _slot_ref(slot: ReplicationSlot) -> ObjectRef:
    return ObjectRef(type="replication_slot", slot=slot.name, database=slot.database)


def _slot_details(slot: ReplicationSlot) -> dict[str, object]:
    return {"slot": slot.name, "slot_type": slot.slot_type, "active": slot.active, "wal_status": slot.wal_status,
            "retained_bytes": slot.retained_bytes, "restart_lsn": slot.restart_lsn, "plugin": slot.plugin}


_SIZE = re.compile(r"^\s*(-?\d+)\s*(B|kB|MB|GB|TB)?\s*$")
_UNIT = {None: 1024**2, "B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}  # bare: MB


def slot_keep_limit(snap: Snapshot) -> int | None:
    """max_slot_wal_keep_size in bytes; None when unset (-1, every slot keeps all it needs) or not read."""
    m = _SIZE.match(snap.settings.get("max_slot_wal_keep_size") or "")
    if m is None or int(m.group(1)) < 0:
        return None
    return int(m.group(1)) * _UNIT[m.group(2)]


def _room_for(retained: int | None, keep: int | None) -> str:
    """A limit above what the slot keeps now (and above the current one): whole GB, at least twice the WAL."""
    need = max(2 * (retained or 0), 2 * (keep or 0), GIB)
    return f"{-(-need // GIB)}GB"


def _drop_or_bound(slot: ReplicationSlot, keep: int | None) -> str:
    drop = f"SELECT pg_drop_replication_slot({pg_literal(slot.name)});  -- if its consumer is gone for good"
    if keep is not None:
        return drop  # already bounded: proposing a limit here could raise it
    return (f"{drop}\n-- or bound what any slot may keep (PostgreSQL 13+; pick what pg_wal's disk can hold):\n"
            "ALTER SYSTEM SET max_slot_wal_keep_size = '50GB';\nSELECT pg_reload_conf();")


def _unreserved_fix(slot: ReplicationSlot, keep: int | None) -> str:
    room = ("-- or, if pg_wal's disk has room, raise the limit above what it keeps while it catches up:\n"
            f"ALTER SYSTEM SET max_slot_wal_keep_size = '{_room_for(slot.retained_bytes, keep)}';\n"
            "SELECT pg_reload_conf();")
    if slot.active:
        return "-- its consumer is behind: look at its disk, its network and what it replays or decodes\n" + room
    return (f"SELECT pg_drop_replication_slot({pg_literal(slot.name)});  -- if its consumer is gone for good\n"
            + room)


# ------------------------------------------------------------------------------------------------------------
# RP02 replication-lag
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicationLagOptions:
    max_lag_s: float = 60.0  # a minute behind
    max_lag_bytes: int = GIB  # WAL not yet replayed (PostgreSQL)


def _standby_positions_visible(snap: Snapshot) -> Unmet | None:
    """The standbys' positions are hidden without pg_read_all_stats: no standby is judged caught up blindly."""
    rep = snap.replication
    if snap.engine != "postgresql" or rep is None or rep.standbys_complete:
        return None
    note = next((n for n in snap.notes if n.area == STANDBYS_AREA), None)
    return Unmet(note.message if note else "the standbys' positions are hidden", note.enable if note else None)


_requires_positions: Precondition = _standby_positions_visible


@check(code="RP02", name="replication-lag", severity=Severity.WARNING, engines=BOTH, options=ReplicationLagOptions,
       reads=(),
       requires=(requires_replication(postgresql=("standbys", "replicas"), mysql=("replicas",)),
                 _requires_positions))
def replication_lag(snap: Snapshot, opts: ReplicationLagOptions) -> Iterator[Hit]:
    """A replica behind its primary, or replication stopped.

    ## What it does
    On a PostgreSQL primary: each standby in pg_stat_replication whose `replay_lag` reaches `max_lag_s`, or
    whose replay position is `max_lag_bytes` behind the current WAL. On a PostgreSQL standby: WAL received but
    not replayed while the last replayed commit is `max_lag_s` old and replay does not move (dbaudit reads the
    replay position a second time half a second later, only when WAL is waiting), `max_lag_bytes` waiting,
    and a paused replay. On a MySQL/MariaDB replica: a stopped I/O or SQL thread (error, with its last error), or
    `Seconds_Behind_Source` past `max_lag_s` beyond a delayed replica's configured `SQL_Delay`.
    An idle primary is not lag: when everything received is replayed, an old last commit only means nothing
    was written. Nor is a primary writing without committing (a bulk load, an index build, VACUUM in the
    nightly window): received WAL then runs a record or a page ahead of replay and the last commit ages, but
    replay keeps moving.

    ## Why is this bad?
    Reads from a lagging replica return stale data; a failover to it loses every transaction it has not
    replayed; a stopped replica silently stops being a copy. On PostgreSQL the primary keeps the WAL the
    standby still needs (through its slot), and with hot_standby_feedback its old snapshots hold vacuum back.

    ## Example
    A standby replaying slower than the primary writes (a long query on it conflicting with replay), or a
    MySQL replica whose SQL thread stopped on a duplicate-key error.

    ## Fix
    Find why it falls behind (I/O of the replica, long queries conflicting with replay, the network); for a
    stopped MySQL replica, read `Last_SQL_Error`, repair, then:
    ```sql
    START REPLICA;  -- MariaDB: START SLAVE;
    ```
    A paused PostgreSQL standby: `SELECT pg_wal_replay_resume();`.

    ## Options
    - `max_lag_s` (default 60): dbaudit's own default, a minute; monitoring templates commonly warn at 30-60 s
      (check_postgres `hot_standby_delay`, pt-heartbeat take the threshold as an argument).
    - `max_lag_bytes` (default 1 GiB): the built-in `max_wal_size`, WAL the standby still has to replay.

    ## Known problems
    `Seconds_Behind_Source` measures the SQL thread against the relay log, not against the primary: a slow I/O
    thread hides lag from it. PostgreSQL's `replay_lag` is empty once an idle standby has caught up, and the
    byte distance is then zero. On a standby, a replay that moves but cannot keep up is judged by the bytes
    waiting (`max_lag_bytes`) only: the time the standby is behind cannot be read there between commits;
    scan the primary for its `replay_lag`.

    ## References
    - https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-REPLICATION-VIEW
    - https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-RECOVERY-INFO-TABLE
    - https://dev.mysql.com/doc/refman/8.0/en/show-replica-status.html
    - https://mariadb.com/kb/en/show-replica-status/
    """
    assert snap.replication is not None
    if snap.engine == "mysql":
        for channel in snap.replication.replicas or ():
            yield from _mysql_channel(snap, channel, opts)
        return
    for standby in snap.replication.standbys or ():
        lag_s = standby.replay_lag_s
        lag_bytes = standby.replay_lag_bytes
        slow = lag_s is not None and lag_s >= opts.max_lag_s
        far = lag_bytes is not None and lag_bytes >= opts.max_lag_bytes
        if not slow and not far:
            continue
        name = standby.application_name or f"pid {standby.pid}"
        behind = " and ".join(p for p in (f"{duration(lag_s)} behind" if lag_s is not None else "",
                                          f"{size(lag_bytes)} of WAL not replayed" if lag_bytes else "") if p)
        yield Hit(
            object=ObjectRef(type="standby", channel=name, pid=standby.pid),
            message=f"standby {name} at {standby.client_addr or '?'} ({standby.state or '?'}, "
                    f"{standby.sync_state or '?'}) is {behind}",
            details={"application_name": standby.application_name, "client_addr": standby.client_addr,
                     "replay_lag_s": lag_s, "replay_lag_bytes": lag_bytes, "state": standby.state,
                     "sync_state": standby.sync_state},
            remediation="-- on the standby: look for long queries conflicting with replay "
                        "(pg_stat_database_conflicts), its disk and the network to the primary",
        )
    now = server_now(snap)
    for replica in snap.replication.replicas or ():
        waiting = replica.receive_replay_bytes or 0
        if waiting <= 0 and not replica.replay_paused:
            continue  # everything received is replayed: an idle primary, not lag
        age = (now - replica.last_replay_at).total_seconds() if now and replica.last_replay_at else None
        # while the primary writes without committing (a bulk load, an index build, VACUUM) received WAL runs a
        # record or a page ahead of replay and the last commit ages: a caught-up standby, as long as replay moves
        moving = (replica.replay_moved_bytes or 0) > 0
        slow = age is not None and age >= opts.max_lag_s and not moving
        far = waiting >= opts.max_lag_bytes
        if not slow and not far and not replica.replay_paused:
            continue
        paused = "replay is paused (pg_wal_replay_pause()); " if replica.replay_paused else ""
        last = f"the last replayed commit is {duration(age)} old" if age is not None else "no commit replayed yet"
        if replica.replay_moved_bytes == 0 and not replica.replay_paused:
            last += ", and replay did not move in half a second"
        yield Hit(
            object=ObjectRef(type="replica", database=snap.database or None),
            message=f"this standby has {size(waiting)} of WAL received but not replayed: {paused}{last}",
            details={"receive_lsn": replica.receive_lsn, "replay_lsn": replica.replay_lsn,
                     "receive_replay_bytes": waiting, "last_replay_age_s": None if age is None else round(age),
                     "replay_paused": replica.replay_paused, "replay_moved_bytes": replica.replay_moved_bytes},
            remediation="SELECT pg_wal_replay_resume();" if replica.replay_paused else
                        "-- look for queries conflicting with replay (pg_stat_database_conflicts), and the disk",
        )


def _mysql_channel(snap: Snapshot, channel: ReplicaStatus, opts: ReplicationLagOptions) -> Iterator[Hit]:
    mariadb = snap.flavor == "mariadb"
    start = "START SLAVE" if mariadb or snap.server_version_num < 80022 else "START REPLICA"
    named = f" '{channel.channel}'" if channel.channel else ""
    if mariadb and channel.channel:
        start = f"START SLAVE '{channel.channel}'"
    elif channel.channel:
        start += f" FOR CHANNEL '{channel.channel}'"
    ref = ObjectRef(type="replica", channel=channel.channel or None)
    details = {"channel": channel.channel, "source": channel.source, "io_running": channel.io_running,
               "sql_running": channel.sql_running, "seconds_behind": channel.seconds_behind,
               "last_io_error": channel.last_io_error, "last_sql_error": channel.last_sql_error}
    stopped = [t for t, state in (("I/O", channel.io_running), ("SQL", channel.sql_running))
               if (state or "").lower() != "yes"]
    if stopped:
        errors = "; ".join(e for e in (channel.last_io_error, channel.last_sql_error) if e)
        states = f"I/O thread {channel.io_running or '?'}, SQL thread {channel.sql_running or '?'}"
        yield Hit(
            object=ref,
            message=f"replication{named} from {channel.source or '?'} is not running ({states})"
                    + (f": {errors}" if errors else "") + ": this replica no longer follows its source",
            details=details,
            remediation=f"-- read Last_IO_Error / Last_SQL_Error, repair the cause, then:\n{start};",
            severity=Severity.ERROR,
        )
        return
    behind = channel.seconds_behind
    allowed = opts.max_lag_s + (channel.sql_delay_s or 0)
    if behind is not None and behind >= allowed:
        delay = f" (beyond its configured delay of {channel.sql_delay_s} s)" if channel.sql_delay_s else ""
        yield Hit(
            object=ref,
            message=f"replication{named} from {channel.source or '?'} is {duration(behind)} behind{delay}",
            details=details,
            remediation="-- look at the replica's disk and CPU, its parallel apply "
                        "(replica_parallel_workers / slave_parallel_threads) and long transactions on the source",
        )
