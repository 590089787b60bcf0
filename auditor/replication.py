"""What holds back vacuum and what replicates: prepared transactions, replication slots, standbys, replica status.

These frozen dataclasses hang off :attr:`auditor.model.Snapshot.replication` and round-trip through its JSON like
the rest. Each area is one bulk catalog query (or one ``SHOW`` statement on MySQL/MariaDB), whatever the size of
the schema: the rows are bounded by ``max_prepared_transactions``, ``max_replication_slots``,
``max_wal_senders`` and the replication channels, not by the tables.

An area the audit role may not read is None (never empty): the connector leaves a
:class:`~auditor.model.Note` with the area's name (``PREPARED_AREA``, ...) saying why and which GRANT lifts the
limit, and the checks that need it are skipped with that GRANT. Transaction IDs are kept as ages (``age(xid)``,
computed on the server), LSNs as text and distances in bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Areas, as Note.area values
PREPARED_AREA = "prepared_xacts"
SLOTS_AREA = "replication_slots"
STANDBYS_AREA = "standbys"
REPLICA_AREA = "replica_status"


@dataclass(frozen=True)
class PreparedXact:
    """A transaction prepared for two-phase commit (pg_prepared_xacts), waiting for COMMIT/ROLLBACK PREPARED.

    It keeps its locks and holds back the xmin horizon of the whole server until someone resolves it, even
    across restarts. ``gid`` is the application's identifier, the name COMMIT PREPARED takes.
    """

    gid: str
    prepared: datetime | None = None  # when PREPARE TRANSACTION ran
    owner: str | None = None
    database: str | None = None
    xid_age: int | None = None  # age(transaction): how far it holds back the horizon


@dataclass(frozen=True)
class ReplicationSlot:
    """A replication slot (pg_replication_slots): WAL from ``restart_lsn`` on is kept for its consumer.

    ``retained_bytes`` is the WAL kept for it (the current WAL position, or on a standby the last received
    one, minus ``restart_lsn``). ``wal_status`` (PostgreSQL 13+): ``reserved``, ``extended``, ``unreserved``
    (past ``max_wal_size``, about to be removed) or ``lost`` (the slot is unusable). ``xmin_age`` is what a
    physical slot holds back for a standby with ``hot_standby_feedback``; ``catalog_xmin_age`` what a logical
    slot holds back on the system catalogs.
    """

    name: str
    slot_type: str  # "physical" or "logical"
    plugin: str | None = None
    database: str | None = None
    active: bool = False
    active_pid: int | None = None
    temporary: bool = False
    xmin_age: int | None = None
    catalog_xmin_age: int | None = None
    restart_lsn: str | None = None
    retained_bytes: int | None = None
    wal_status: str | None = None  # None before PostgreSQL 13
    safe_wal_size: int | None = None  # bytes left before the slot is lost (max_slot_wal_keep_size set)
    inactive_since: datetime | None = None  # PostgreSQL 17+


@dataclass(frozen=True)
class Standby:
    """A standby streaming from this server (one pg_stat_replication row: a walsender).

    Positions and lags are None without pg_read_all_stats (PostgreSQL hides them from other roles): unknown,
    never "caught up". ``xmin_age`` is the standby's hot_standby_feedback when it uses no slot (with a slot the
    feedback lands in the slot's xmin).
    """

    pid: int
    user: str | None = None
    application_name: str | None = None
    client_addr: str | None = None
    state: str | None = None  # "streaming", "catchup", "backup", "startup", "stopping"
    sync_state: str | None = None  # "async", "sync", "potential", "quorum"
    slot: str | None = None  # the slot it streams from, when one is active for this walsender
    sent_lsn: str | None = None
    replay_lsn: str | None = None
    replay_lag_bytes: int | None = None  # the current WAL position minus the standby's replay position
    write_lag_s: float | None = None
    flush_lag_s: float | None = None
    replay_lag_s: float | None = None  # pg_stat_replication.replay_lag (NULL once an idle standby caught up)
    xmin_age: int | None = None


@dataclass(frozen=True)
class ReplicaStatus:
    """This server as a replica: PostgreSQL's replay position, or one MySQL/MariaDB replication channel.

    PostgreSQL: ``receive_lsn`` / ``replay_lsn`` (pg_last_wal_receive_lsn / pg_last_wal_replay_lsn), the commit
    time of the last replayed transaction, and ``replay_paused``. MySQL/MariaDB (SHOW REPLICA STATUS / SHOW ALL
    SLAVES STATUS): whether the I/O and SQL threads run, ``seconds_behind`` (Seconds_Behind_Source /
    Seconds_Behind_Master; None while a thread is stopped), and the last errors.
    """

    channel: str = ""  # MySQL channel / MariaDB connection name ("" for the default one)
    source: str | None = None  # where it replicates from: host:port (MySQL), primary_conninfo host (PostgreSQL)
    # PostgreSQL
    receive_lsn: str | None = None
    replay_lsn: str | None = None
    receive_replay_bytes: int | None = None  # WAL received but not replayed yet
    last_replay_at: datetime | None = None  # pg_last_xact_replay_timestamp()
    replay_paused: bool | None = None
    # how far replay moved in a second reading half a second later, taken only while WAL waited to be replayed
    # (None: not taken). A moving replay is catching up, not stalled.
    replay_moved_bytes: int | None = None
    # MySQL/MariaDB
    io_running: str | None = None  # "Yes", "No", "Connecting"
    sql_running: str | None = None  # "Yes", "No"
    seconds_behind: int | None = None
    last_io_error: str | None = None
    last_sql_error: str | None = None
    sql_delay_s: int | None = None  # a delayed replica's configured delay (MASTER_DELAY / SOURCE_DELAY)


@dataclass(frozen=True)
class Replication:
    """Prepared transactions, slots, standbys and this server's own replica status, as read at collection time.

    ``server_time`` is the server's clock when they were read: ages of sessions and prepared transactions are
    measured against it, so a skewed client clock cannot make a transaction look old. ``replicas`` is ``()`` on
    a server that replicates from nowhere, None when it could not be read.
    """

    server_time: datetime | None = None
    in_recovery: bool = False
    current_lsn: str | None = None  # PostgreSQL: pg_current_wal_lsn() (the last received one on a standby)
    prepared_xacts: tuple[PreparedXact, ...] | None = None
    slots: tuple[ReplicationSlot, ...] | None = None
    standbys: tuple[Standby, ...] | None = None
    standbys_complete: bool = True  # False: positions and lags hidden (no pg_read_all_stats)
    replicas: tuple[ReplicaStatus, ...] | None = None
