"""Settings: server configuration and the evidence that it hurts (durability, autovacuum, memory, connections,
timeouts, checkpoints, planner, cache hits)."""

from __future__ import annotations

import heapq
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from auditor.engine import NoOptions, check
from auditor.model import Hit, ObjectRef, Severity, Snapshot
from auditor.posture import Posture, ServerSetting, hit_ratios
from auditor.sqlquote import pg_ident, pg_literal
from checks._posture import (
    BOTH,
    DEFAULT_TIMEOUTS,
    alter_system,
    mysql_set_global,
    pct,
    requires_activity,
    requires_posture,
    scope,
    size,
    timeouts_off,
)

_blocks_read = operator.attrgetter("blks_read")


def _setting_ref(name: str) -> ObjectRef:
    return ObjectRef(type="setting", setting=name)


def _pg_setting(snap: Snapshot, name: str) -> ServerSetting | None:
    return snap.posture.setting(name) if snap.posture is not None else None


def _is_off(value: str | None) -> bool:
    return (value or "").strip().lower() in ("off", "0", "false", "no")


def _since(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "the server started"


# ------------------------------------------------------------------------------------------------------------
# ST01 durability-off
# ------------------------------------------------------------------------------------------------------------


@check(code="ST01", name="durability-off", severity=Severity.ERROR, engines=BOTH,
       requires=(requires_posture(postgresql=("settings",)),))
def durability_off(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """A setting that trades crash safety for speed: a crash can corrupt data or lose committed transactions.

    ## What it does
    PostgreSQL: flags `fsync = off` and `full_page_writes = off` (errors: a crash can corrupt the database), and
    reports `synchronous_commit = off` as info only (a crash loses the last commits but corrupts nothing, a
    legitimate trade-off). MySQL/MariaDB: flags `innodb_doublewrite = OFF` (error: torn pages),
    `innodb_flush_log_at_trx_commit` other than 1 and, when the binary log is on, `sync_binlog` other than 1
    (warnings: a crash loses up to a second of committed transactions, or binlog events that replicas and
    point-in-time recovery need). Values are the server's, as new sessions get them.

    ## Why is this bad?
    With `fsync = off` PostgreSQL never forces its writes to disk: after a power loss or an OS crash the data
    files and the WAL can disagree, and the database may be unrecoverable. Without full page writes a page
    half-written at the crash cannot be repaired from the WAL. InnoDB's doublewrite buffer plays the same role.
    A log flushed once per second instead of at each commit acknowledges transactions it may then lose.

    ## Example
    ```sql
    ALTER SYSTEM SET fsync = off;  -- a bulk load was faster, and nobody turned it back on
    ```

    ## Fix
    ```sql
    ALTER SYSTEM SET fsync = on;
    SELECT pg_reload_conf();
    ```
    ```sql
    SET GLOBAL innodb_flush_log_at_trx_commit = 1;  -- and in the option file
    ```

    ## Known problems
    `full_page_writes = off` is safe on a file system that never tears a page (ZFS with an 8 kB record size):
    ignore the finding there with a reason. Throwaway servers (tests, CI) run without durability on purpose.

    ## References
    - https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-FSYNC
    - pt-variable-advisor rules `innodb_flush_log_at_trx_commit-1`, `-2`, `sync_binlog`, `innodb_doublewrite`
    - https://dev.mysql.com/doc/refman/8.0/en/innodb-parameters.html#sysvar_innodb_flush_log_at_trx_commit
    """
    if snap.engine == "postgresql":
        yield from _pg_durability(snap)
    else:
        yield from _mysql_durability(snap)


def _pg_durability(snap: Snapshot) -> Iterator[Hit]:
    fsync = _pg_setting(snap, "fsync")
    if fsync is not None and _is_off(fsync.value):
        yield Hit(
            object=_setting_ref("fsync"),
            message="fsync = off: PostgreSQL never forces its writes to disk, so a power loss or an operating "
                    "system crash can leave the database corrupted beyond repair",
            details={"setting": "fsync", "value": fsync.value, "source": fsync.source},
            remediation=alter_system(snap, "fsync", "on", fsync),
        )
    fpw = _pg_setting(snap, "full_page_writes")
    if fpw is not None and _is_off(fpw.value):
        yield Hit(
            object=_setting_ref("full_page_writes"),
            message="full_page_writes = off: a page half-written when the server crashes cannot be repaired "
                    "from the WAL, and the table or index holding it is corrupted",
            details={"setting": "full_page_writes", "value": fpw.value, "source": fpw.source},
            remediation=alter_system(snap, "full_page_writes", "on", fpw),
        )
    sync = _pg_setting(snap, "synchronous_commit")
    if sync is not None and _is_off(sync.value):
        yield Hit(
            object=_setting_ref("synchronous_commit"),
            message=f"synchronous_commit = off{scope(snap, sync)}: a crash can lose the transactions of the last "
                    "few hundred milliseconds although they were reported committed; nothing is corrupted, which "
                    "makes this a legitimate choice where such a loss is acceptable",
            details={"setting": "synchronous_commit", "value": sync.value, "source": sync.source},
            remediation=alter_system(snap, "synchronous_commit", "on", sync),
            severity=Severity.INFO,
        )


def _mysql_durability(snap: Snapshot) -> Iterator[Hit]:
    s = snap.settings
    doublewrite = s.get("innodb_doublewrite")
    if doublewrite is not None and _is_off(doublewrite):
        yield Hit(
            object=_setting_ref("innodb_doublewrite"),
            message="innodb_doublewrite = OFF: a page half-written when the server crashes cannot be repaired, "
                    "and InnoDB reports the table as corrupted",
            details={"setting": "innodb_doublewrite", "value": doublewrite},
            remediation=mysql_set_global(snap, "innodb_doublewrite", "ON", dynamic=False),
        )
    flush = (s.get("innodb_flush_log_at_trx_commit") or "").strip()
    if flush in ("0", "2"):
        when = ("a crash of mysqld or of the machine" if flush == "0"
                else "an operating system crash or a power loss")
        yield Hit(
            object=_setting_ref("innodb_flush_log_at_trx_commit"),
            message=f"innodb_flush_log_at_trx_commit = {flush}: the redo log is flushed to disk about once a "
                    f"second instead of at each commit, so {when} loses up to a second of transactions that "
                    "were reported committed",
            details={"setting": "innodb_flush_log_at_trx_commit", "value": flush},
            remediation=mysql_set_global(snap, "innodb_flush_log_at_trx_commit", "1"),
            severity=Severity.WARNING,
        )
    log_bin = (s.get("log_bin") or "").strip().upper()
    sync_binlog = (s.get("sync_binlog") or "").strip()
    if log_bin in ("ON", "1") and sync_binlog.isdigit() and int(sync_binlog) != 1:
        how = "never: the operating system decides" if sync_binlog == "0" else f"every {sync_binlog} commits"
        yield Hit(
            object=_setting_ref("sync_binlog"),
            message=f"sync_binlog = {sync_binlog} with the binary log on: the binary log is flushed to disk "
                    f"{how}, so a crash can lose binlog events of committed transactions, which replicas and "
                    "point-in-time recovery then miss",
            details={"setting": "sync_binlog", "value": sync_binlog},
            remediation=mysql_set_global(snap, "sync_binlog", "1"),
            severity=Severity.WARNING,
        )


# ------------------------------------------------------------------------------------------------------------
# ST02 autovacuum-settings
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutovacuumSettingsOptions:
    # postgres-checkup F008 calls the pre-12 defaults (20 ms delay, limit 200: ~8 MiB/s) "extremely low"
    min_read_mib_s: float = 10.0  # autovacuum's read budget (pages missed in shared buffers), all workers


@check(code="ST02", name="autovacuum-settings", severity=Severity.WARNING, engines=("postgresql",),
       options=AutovacuumSettingsOptions, requires=(requires_posture(postgresql=("settings",)),),
       not_applicable={"mysql": "MySQL/MariaDB have no vacuum: InnoDB purges old row versions by itself"})
def autovacuum_settings(snap: Snapshot, opts: AutovacuumSettingsOptions) -> Iterator[Hit]:
    """Autovacuum switched off, its statistics off, or throttled so hard that it cannot keep up.

    ## What it does
    Flags `autovacuum = off` and `track_counts = off` (errors), and a cost-based delay that caps autovacuum's
    reading below `min_read_mib_s`: at most `cost_limit / vacuum_cost_page_miss` pages per
    `autovacuum_vacuum_cost_delay`, shared by all workers (`-1` values fall back to the `vacuum_cost_*` ones).
    Tuned values that leave a generous budget are not findings.

    ## Why is this bad?
    Without autovacuum, dead rows are never reclaimed and statistics never refreshed; only the emergency
    anti-wraparound vacuums still run, late and all at once. `track_counts = off` blinds autovacuum: it has no
    counts to decide on. A throttled autovacuum falls behind on large tables: bloat grows and the freeze
    horizon creeps towards wraparound.

    ## Example
    ```sql
    ALTER SYSTEM SET autovacuum_vacuum_cost_delay = '20ms';  -- the pre-12 default: about 8 MiB/s in all
    ```

    ## Fix
    ```sql
    ALTER SYSTEM SET autovacuum_vacuum_cost_delay = '2ms';
    SELECT pg_reload_conf();
    ```

    ## Options
    - `min_read_mib_s` (default 10): the read budget below which autovacuum is flagged as throttled.
      postgres-checkup (F008) flags the pre-12 defaults, a 20 ms delay with a limit of 200, which allow about
      8 MiB/s; since PostgreSQL 12 the default delay of 2 ms allows ten times that.

    ## Known problems
    Per-table `autovacuum_vacuum_cost_*` storage parameters are not weighed; a table with its own generous
    budget is served faster than the server-wide figure says.

    ## References
    - https://www.postgresql.org/docs/current/runtime-config-autovacuum.html
    - postgres-checkup F001 (autovacuum settings left at their defaults) and F008 (cost delay and limit)
    - postgresqltuner.pl ("autovacuum is not activated")
    """
    autovacuum = _pg_setting(snap, "autovacuum")
    if autovacuum is not None and _is_off(autovacuum.value):
        yield Hit(
            object=_setting_ref("autovacuum"),
            message="autovacuum = off: dead rows are never reclaimed and statistics never refreshed by the "
                    "server; only emergency anti-wraparound vacuums still run",
            details={"setting": "autovacuum", "value": autovacuum.value},
            remediation=alter_system(snap, "autovacuum", "on", autovacuum),
            severity=Severity.ERROR,
        )
    track = _pg_setting(snap, "track_counts")
    if track is not None and _is_off(track.value):
        yield Hit(
            object=_setting_ref("track_counts"),
            message="track_counts = off: the server keeps no row counts, so autovacuum cannot tell which "
                    "tables need vacuuming or analyzing",
            details={"setting": "track_counts", "value": track.value},
            remediation=alter_system(snap, "track_counts", "on", track),
            severity=Severity.ERROR,
        )
    if autovacuum is not None and _is_off(autovacuum.value):
        return
    budget = autovacuum_read_budget(snap.posture)
    if budget is None:
        return
    mib_s, delay_ms, limit, page_miss = budget
    if mib_s >= opts.min_read_mib_s:
        return
    delay = _pg_setting(snap, "autovacuum_vacuum_cost_delay")
    yield Hit(
        object=_setting_ref("autovacuum_vacuum_cost_delay"),
        message=f"autovacuum may read at most about {mib_s:.1f} MiB/s, shared by all its workers "
                f"(cost limit {limit:g} per {delay_ms:g} ms delay, {page_miss:g} per page read): below "
                f"{opts.min_read_mib_s:g} MiB/s, large tables wait for their vacuum and bloat grows",
        details={"read_mib_s": round(mib_s, 2), "cost_delay_ms": delay_ms, "cost_limit": limit,
                 "vacuum_cost_page_miss": page_miss, "min_read_mib_s": opts.min_read_mib_s},
        remediation=alter_system(snap, "autovacuum_vacuum_cost_delay", "2ms", delay),
    )


def autovacuum_read_budget(posture: Posture | None) -> tuple[float, float, float, float] | None:
    """(MiB/s, delay ms, cost limit, page-miss cost) of autovacuum's read budget; None when unthrottled."""
    if posture is None:
        return None

    def number(name: str) -> float | None:
        s = posture.setting(name)
        return s.number() if s is not None else None

    def millis(name: str) -> float | None:
        s = posture.setting(name)
        return s.millis() if s is not None else None

    delay = millis("autovacuum_vacuum_cost_delay")
    if delay is not None and delay < 0:
        delay = millis("vacuum_cost_delay")
    limit = number("autovacuum_vacuum_cost_limit")
    if limit is not None and limit < 0:
        limit = number("vacuum_cost_limit")
    page_miss = number("vacuum_cost_page_miss")
    block = number("block_size") or 8192.0
    if delay is None or limit is None or page_miss is None or delay <= 0 or page_miss <= 0:
        return None
    pages_per_s = limit / page_miss * (1000.0 / delay)
    return pages_per_s * block / 1024**2, delay, limit, page_miss


# ------------------------------------------------------------------------------------------------------------
# ST03 memory-settings
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemorySettingsOptions:
    size_factor: float = 10.0  # the data at least this many times the cache
    innodb_min_hit_pct: float = 99.0  # InnoDB: flagged only when the pool misses (PgHero's 99 % target)
    min_requests: int = 100_000  # InnoDB: page requests needed before the hit ratio counts


@check(code="ST03", name="memory-settings", severity=Severity.WARNING, engines=BOTH,
       options=MemorySettingsOptions,
       requires=(requires_posture(postgresql=("settings", "database_stats"), mysql=("status",)),))
def memory_settings(snap: Snapshot, opts: MemorySettingsOptions) -> Iterator[Hit]:
    """The database cache left at its built-in size while the data is many times larger.

    ## What it does
    PostgreSQL: flags `shared_buffers` still at its built-in default (128 MB) when the audited database is at
    least `size_factor` times larger. MySQL/MariaDB: flags an InnoDB buffer pool at least `size_factor` times
    smaller than the InnoDB data of the audited schemas, when the pool also misses: its hit ratio is below
    `innodb_min_hit_pct` over at least `min_requests` page requests.

    SQL cannot see how much memory the machine has, so no size is proposed: the finding says so and gives the
    usual starting point as a share of RAM.

    ## Why is this bad?
    The defaults are sized to start on any machine, not to run a database. With a cache far smaller than the
    working set every query reads from the operating system's cache or the disk.

    ## Example
    A 40 GB database on a server whose postgresql.conf never set `shared_buffers` (128 MB).

    ## Fix
    ```sql
    ALTER SYSTEM SET shared_buffers = '4GB';  -- about 25 % of a 16 GB machine; takes effect after a restart
    ```

    ## Options
    - `size_factor` (default 10): how many times the cache the data must be.
    - `innodb_min_hit_pct` (default 99) and `min_requests` (default 100,000): the InnoDB pool must also miss,
      by PgHero's 99 % cache-hit target (MySQLTuner only warns below 90 %).

    ## Known problems
    A database that is large but mostly cold does not need a cache of its size; the hit ratio (ST08) tells.

    ## References
    - https://www.postgresql.org/docs/current/runtime-config-resource.html#GUC-SHARED-BUFFERS (25 % of RAM)
    - postgres-checkup G001 (shared_buffers between 20 % and 80 % of RAM, when RAM is known)
    - pt-variable-advisor rule `innodb_buffer_pool_size` (left at its built-in default)
    - MySQLTuner ("InnoDB buffer pool / data size", "InnoDB Read buffer efficiency")
    """
    if snap.engine == "postgresql":
        yield from _pg_memory(snap, opts)
    else:
        yield from _mysql_memory(snap, opts)


NO_RAM = "SQL cannot see the machine's memory, so dbaudit proposes no size"


def _pg_memory(snap: Snapshot, opts: MemorySettingsOptions) -> Iterator[Hit]:
    assert snap.posture is not None
    buffers = snap.posture.setting("shared_buffers")
    stats = snap.posture.database_stats
    if buffers is None or stats is None or not buffers.is_default:
        return
    cache = buffers.bytes()
    data = stats.size_bytes
    if cache is None or data is None or data < opts.size_factor * cache:
        return
    yield Hit(
        object=_setting_ref("shared_buffers"),
        message=f"shared_buffers is still the built-in default of {size(cache)} while database "
                f"{snap.database} holds {size(data)} ({data / cache:.0f} times as much); {NO_RAM}: the "
                "PostgreSQL documentation suggests about 25 % of the RAM of a dedicated server to start with",
        details={"shared_buffers_bytes": cache, "database_bytes": data, "ratio": round(data / cache, 1),
                 "size_factor": opts.size_factor, "ram": "unknown"},
        remediation="-- about 25 % of the machine's RAM (dbaudit cannot see it), e.g. 4GB on a 16 GB server:\n"
                    + alter_system(snap, "shared_buffers", "4GB", buffers),
    )


def _mysql_memory(snap: Snapshot, opts: MemorySettingsOptions) -> Iterator[Hit]:
    assert snap.posture is not None
    pool_text = snap.settings.get("innodb_buffer_pool_size", "")
    if not pool_text.isdigit():
        return
    pool = int(pool_text)
    data = sum((t.table_bytes or 0) + (t.index_bytes or 0) for t in snap.tables
               if t.kind == "table" and (t.engine or "").lower() == "innodb")
    if pool <= 0 or data < opts.size_factor * pool:
        return
    requests = snap.posture.status_int("Innodb_buffer_pool_read_requests")
    reads = snap.posture.status_int("Innodb_buffer_pool_reads")
    if requests is None or reads is None or requests < opts.min_requests:
        return
    hit = 100.0 * (1 - reads / requests) if requests else 100.0
    if hit >= opts.innodb_min_hit_pct:
        return
    schemas = ", ".join(snap.schemas) or "the audited schemas"
    yield Hit(
        object=_setting_ref("innodb_buffer_pool_size"),
        message=f"the InnoDB buffer pool holds {size(pool)} while the InnoDB tables of {schemas} alone hold "
                f"{size(data)} ({data / pool:.0f} times as much), and {pct(100 - hit)} of its page requests "
                f"go to disk; {NO_RAM}: MySQL's documentation suggests up to 80 % of the RAM of a dedicated "
                "server",
        details={"innodb_buffer_pool_size": pool, "innodb_data_bytes": data, "ratio": round(data / pool, 1),
                 "hit_pct": round(hit, 2), "read_requests": requests, "reads": reads, "ram": "unknown"},
        remediation="-- up to 80 % of the machine's RAM (dbaudit cannot see it), e.g. 12G on a 16 GB server:\n"
                    + mysql_set_global(snap, "innodb_buffer_pool_size", "12884901888"),
    )


# ------------------------------------------------------------------------------------------------------------
# ST04 connection-headroom
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionHeadroomOptions:
    max_used_pct: float = 85.0  # MySQLTuner: "Highest connection usage" above 85 %


@check(code="ST04", name="connection-headroom", severity=Severity.WARNING, engines=BOTH,
       options=ConnectionHeadroomOptions,
       requires=(requires_posture(postgresql=("settings",), mysql=("status",)), requires_activity("postgresql")))
def connection_headroom(snap: Snapshot, opts: ConnectionHeadroomOptions) -> Iterator[Hit]:
    """Connections in use close to `max_connections`: the next burst is refused.

    ## What it does
    PostgreSQL: counts the client connections open at collection time (pg_stat_activity, dbaudit's own
    included) against the slots `max_connections` leaves once `superuser_reserved_connections` (and
    `reserved_connections`, PostgreSQL 16+) are set aside. MySQL/MariaDB: compares `Max_used_connections`,
    the most connections open at once since the server started, with `max_connections`. Flags a use at or
    above `max_used_pct`; connections already refused for lack of a slot (MySQL's
    `Connection_errors_max_connections`), or every slot taken, make it an error.

    ## Why is this bad?
    When every slot is taken the server refuses new connections ("too many clients", "Too many
    connections"): the application fails although the database itself is idle.

    ## Example
    `max_connections = 100` and 92 connections held open by application pools.

    ## Fix
    Pool connections (PgBouncer, a proxy, smaller application pools), close idle ones
    (`idle_session_timeout`, MySQL's `wait_timeout`), or raise the limit:
    ```sql
    ALTER SYSTEM SET max_connections = 200;  -- takes effect after a server restart
    ```

    ## Options
    - `max_used_pct` (default 85): MySQLTuner's threshold for "Highest connection usage"; postgresqltuner.pl
      warns above 70 % and alarms above 90 %.

    ## Known problems
    On PostgreSQL the count is a moment's view, not the day's peak: a nightly scan misses the daytime burst
    (the history of runs shows the trend).

    ## References
    - MySQLTuner (`pct_connections_used` above 85 %), postgresqltuner.pl (connection slots used)
    - PgHero (`total_connections_threshold`)
    """
    if snap.engine == "postgresql":
        yield from _pg_connections(snap, opts)
        return
    assert snap.posture is not None
    peak = snap.posture.status_int("Max_used_connections")
    limit_text = snap.settings.get("max_connections", "")
    refused = snap.posture.status_int("Connection_errors_max_connections") or 0
    if peak is None or not limit_text.isdigit() or int(limit_text) <= 0:
        return
    limit = int(limit_text)
    used = 100.0 * peak / limit
    if used < opts.max_used_pct and not refused:
        return
    when = (snap.posture.status or {}).get("Max_used_connections_time")
    full = peak >= limit
    message = (f"{peak} connections were open at once since the server started"
               + (f" (at {when})" if when else "") + f", {used:.0f} % of max_connections = {limit}")
    if full:
        message += (": every slot was taken" + (" (and the one kept for a SUPER / CONNECTION ADMIN account)"
                                                if peak > limit else ""))
    if refused:
        message += f"; {refused} connection(s) were already refused for lack of a free slot"
    new_limit = max(limit + 1, int(peak / (opts.max_used_pct / 100.0)) + 1)
    yield Hit(
        object=_setting_ref("max_connections"),
        message=message,
        details={"max_used_connections": peak, "max_connections": limit, "used_pct": round(used, 1),
                 "refused": refused},
        remediation=mysql_set_global(snap, "max_connections", str(new_limit)),
        severity=Severity.ERROR if refused or full else None,
    )


def _pg_connections(snap: Snapshot, opts: ConnectionHeadroomOptions) -> Iterator[Hit]:
    assert snap.posture is not None and snap.activity is not None
    limit_setting = snap.posture.setting("max_connections")
    limit = limit_setting.number() if limit_setting is not None else None
    if limit is None or limit <= 0:
        return
    reserved = 0.0
    for name in ("superuser_reserved_connections", "reserved_connections"):
        s = snap.posture.setting(name)
        reserved += (s.number() or 0.0) if s is not None else 0.0
    usable = max(1.0, limit - reserved)
    clients = [b for b in snap.activity.backends if b.backend_type == "client backend"]
    used = 100.0 * len(clients) / usable
    if used < opts.max_used_pct:
        return
    by_user: dict[str, int] = {}
    for b in clients:
        by_user[b.user or "?"] = by_user.get(b.user or "?", 0) + 1
    busiest = ", ".join(f"{u} {n}" for u, n in sorted(by_user.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    new_limit = max(int(limit) + 1, int(len(clients) / (opts.max_used_pct / 100.0) + reserved) + 1)
    if len(clients) >= usable:
        # superusers may also take the reserved slots: 18 of 17 is not "106 %", it is every slot and then some
        extra = len(clients) - usable
        taken = (f"{len(clients)} client connections are open: all {usable:g} slots that max_connections = "
                 f"{limit:g} leaves to ordinary roles are taken"
                 + (f", and {extra:g} more of the {reserved:g} kept for superusers" if extra > 0 else ""))
    else:
        taken = (f"{len(clients)} client connections are open of the {usable:g} that max_connections = "
                 f"{limit:g} leaves to ordinary roles ({used:.0f} %")
    yield Hit(
        object=_setting_ref("max_connections"),
        message=f"{taken}{', at' if len(clients) < usable else ' (at'} collection time; by role: {busiest}); pool "
                "them or raise the limit",
        details={"connections": len(clients), "usable": usable, "max_connections": limit,
                 "used_pct": round(used, 1), "by_role": by_user},
        remediation=alter_system(snap, "max_connections", str(new_limit), limit_setting),
        severity=Severity.ERROR if len(clients) >= usable else None,
    )


# ------------------------------------------------------------------------------------------------------------
# ST05 missing-timeouts
# ------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MissingTimeoutsOptions:
    # proposed in the fix; pick the longest statement the application needs
    statement_timeout: str = DEFAULT_TIMEOUTS["statement_timeout"]
    idle_in_transaction_session_timeout: str = DEFAULT_TIMEOUTS["idle_in_transaction_session_timeout"]


@check(code="ST05", name="missing-timeouts", severity=Severity.INFO, engines=("postgresql",),
       options=MissingTimeoutsOptions,
       requires=(requires_posture(postgresql=("settings", "role_settings", "roles")),),
       not_applicable={"mysql": "MySQL/MariaDB bound idle sessions with wait_timeout, which is always set"})
def missing_timeouts(snap: Snapshot, opts: MissingTimeoutsOptions) -> Iterator[Hit]:
    """An application role runs without `statement_timeout` or `idle_in_transaction_session_timeout`.

    ## What it does
    For every role that may log in and connect to the audited database, other than superusers and dbaudit's
    own role, works out the value each timeout takes for it here -- set for the role in this database, else
    for the role, else for the database, else server-wide -- and reports the roles for which one is 0
    (disabled).

    ## Why is this bad?
    A runaway statement runs until someone cancels it, and a session left "idle in transaction" by a crashed
    or careless client holds its locks and vacuum's horizon indefinitely. A timeout per role bounds the damage
    without touching maintenance sessions.

    ## Example
    ```sql
    CREATE ROLE app LOGIN PASSWORD '...';  -- nothing bounds its statements
    ```

    ## Fix
    ```sql
    ALTER ROLE app SET statement_timeout = '60s';
    ALTER ROLE app SET idle_in_transaction_session_timeout = '10min';
    ```

    ## Options
    - `statement_timeout` (default "60s") and `idle_in_transaction_session_timeout` (default "10min"): the
      values the fix proposes. Pick them from the application's longest legitimate statement and transaction.

    ## Known problems
    When dbaudit's own role or the database stores a value, the server-wide value behind it is not visible
    from this session; roles that would fall back to it are then not judged.

    ## References
    - https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT
    - postgres-checkup G003 (timeouts and their per-role and per-database settings)
    """
    assert snap.posture is not None
    posture = snap.posture
    me = posture.login
    for role in posture.roles or ():
        if not role.login or role.superuser or role.name == me or role.connect is False:
            continue
        missing = timeouts_off(snap, role.name)
        if not missing:
            continue
        proposals = {"statement_timeout": opts.statement_timeout,
                     "idle_in_transaction_session_timeout": opts.idle_in_transaction_session_timeout}
        yield Hit(
            object=ObjectRef(type="role", role=role.name),
            message=f"role {role.name} runs without {' and without '.join(missing)}"
                    + _timeout_consequence(missing),
            details={"role": role.name, "missing": missing},
            remediation="\n".join(f"ALTER ROLE {pg_ident(role.name)} SET {name} = {pg_literal(proposals[name])};"
                                  for name in missing),
        )


def _timeout_consequence(missing: list[str]) -> str:
    parts = []
    if "statement_timeout" in missing:
        parts.append("a runaway statement runs until cancelled")
    if "idle_in_transaction_session_timeout" in missing:
        parts.append("a session left idle in a transaction holds its locks and vacuum's horizon indefinitely")
    return "" if not parts else "; " + " and ".join(parts)


# ------------------------------------------------------------------------------------------------------------
# ST06 checkpoint-pressure
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointPressureOptions:
    max_requested_share: float = 0.2  # requested checkpoints as a share of all
    min_checkpoints: int = 10  # fewer checkpoints since the reset say nothing yet
    min_stats_age_hours: float = 24.0  # younger counters say nothing yet


@check(code="ST06", name="checkpoint-pressure", severity=Severity.WARNING, engines=("postgresql",),
       options=CheckpointPressureOptions, requires=(requires_posture(postgresql=("settings", "checkpoints")),),
       not_applicable={"mysql": "InnoDB checkpoints continuously (fuzzy checkpointing); there is no such counter"})
def checkpoint_pressure(snap: Snapshot, opts: CheckpointPressureOptions) -> Iterator[Hit]:
    """Most checkpoints are forced by WAL volume rather than started by the timer: `max_wal_size` is too small.

    ## What it does
    Reads the checkpoint counters (pg_stat_bgwriter up to PostgreSQL 16, pg_stat_checkpointer from 17) and
    flags a share of requested checkpoints above `max_requested_share`, once the counters cover at least
    `min_checkpoints` checkpoints and `min_stats_age_hours` hours.

    ## Why is this bad?
    A checkpoint requested because the WAL reached `max_wal_size` writes all dirty pages as fast as it can,
    instead of spreading the writes over `checkpoint_timeout`: I/O spikes, and many more full-page images in
    the WAL right after each checkpoint.

    ## Example
    `max_wal_size = 1GB` on a server that writes 10 GB of WAL an hour: a checkpoint every six minutes, each
    one requested.

    ## Fix
    ```sql
    ALTER SYSTEM SET max_wal_size = '4GB';
    SELECT pg_reload_conf();
    ```

    ## Options
    - `max_requested_share` (default 0.2): the share of requested checkpoints flagged. lesovsky's uber-scripts
      (by pgcenter's author) report this "forced checkpoint ratio"; PgHero, pg-extras and postgres-checkup set
      no threshold for it, and the PostgreSQL documentation asks for checkpoints to be started by the timer.
    - `min_checkpoints` (default 10) and `min_stats_age_hours` (default 24): younger counters stay silent.

    ## Known problems
    A manual `CHECKPOINT`, a base backup and `CREATE DATABASE` (file copy strategy) also count as requested.

    ## References
    - https://www.postgresql.org/docs/current/wal-configuration.html
    - https://github.com/lesovsky/uber-scripts (c2_07_checkpointer_bgwriter_averages.sql)
    """
    assert snap.posture is not None
    cp = snap.posture.checkpoints
    if cp is None or cp.timed is None or cp.requested is None:
        return
    total = cp.timed + cp.requested
    since = cp.stats_reset or snap.server_started
    age_h = (snap.collected_at - since).total_seconds() / 3600 if since and snap.collected_at else None
    if total < opts.min_checkpoints or age_h is None or age_h < opts.min_stats_age_hours:
        return
    share = cp.requested / total
    if share <= opts.max_requested_share:
        return
    max_wal = snap.posture.setting("max_wal_size")
    timeout = snap.posture.setting("checkpoint_timeout")
    wal_bytes = max_wal.bytes() if max_wal is not None else None
    limits = ""
    if wal_bytes is not None and timeout is not None and timeout.millis() is not None:
        limits = (f": the WAL reaches max_wal_size = {size(wal_bytes)} before checkpoint_timeout = "
                  f"{(timeout.millis() or 0) / 60000:g} min ends")
    proposal = f"{max(2, round(2 * wal_bytes / 1024**3))}GB" if wal_bytes and wal_bytes >= 1024**3 else \
        f"{max(64, round(2 * (wal_bytes or 512 * 1024**2) / 1024**2))}MB"
    yield Hit(
        object=_setting_ref("max_wal_size"),
        message=f"{cp.requested} of the {total} checkpoints since {_since(since)} ({pct(100 * share)}) were "
                f"requested rather than timed{limits}",
        details={"requested": cp.requested, "timed": cp.timed, "requested_share": round(share, 3),
                 "source": cp.source, "max_wal_size_bytes": wal_bytes},
        remediation=alter_system(snap, "max_wal_size", proposal, max_wal),
    )


# ------------------------------------------------------------------------------------------------------------
# ST07 planner-settings
# ------------------------------------------------------------------------------------------------------------


# the planner methods that are off by default: not findings when off
_OFF_BY_DEFAULT = frozenset(("enable_partitionwise_join", "enable_partitionwise_aggregate"))


@check(code="ST07", name="planner-settings", severity=Severity.WARNING, engines=("postgresql",),
       requires=(requires_posture(postgresql=("settings",)),),
       not_applicable={"mysql": "MySQL/MariaDB switch optimizer features through optimizer_switch, not checked"})
def planner_settings(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """A planner method switched off for every session, or `random_page_cost` left at the spinning-disk default.

    ## What it does
    Flags every `enable_*` setting that is off server-wide although it is on by default (warning), or off for
    one role (`ALTER ROLE ... [IN DATABASE ...] SET`, read from pg_db_role_setting when readable), and
    reports `random_page_cost` at its built-in 4 as info. Tuned values are not findings; neither are the
    methods that are off by default (`enable_partitionwise_join`, `enable_partitionwise_aggregate`).

    ## Why is this bad?
    `enable_*` settings are debugging switches: off server-wide, they push every query of every application
    away from a plan shape, including where it is by far the cheapest. A `random_page_cost` of 4 prices a
    random read at four sequential ones, which fits spinning disks; on SSDs and in RAM the planner then
    prefers sequential scans where an index would be faster.

    ## Example
    ```sql
    ALTER SYSTEM SET enable_nestloop = off;  -- a fix for one slow query, for every query
    ```

    ## Fix
    ```sql
    ALTER SYSTEM SET enable_nestloop = on;
    SELECT pg_reload_conf();
    ```

    ## Known problems
    On spinning disks 4 is right: ignore the info finding there.

    ## References
    - https://www.postgresql.org/docs/current/runtime-config-query.html
    - postgresqltuner.pl ("some plan features are disabled", random_page_cost against the storage)
    - pg-extras `diagnose` (random_page_cost at its default of 4; it proposes 1.1)
    """
    assert snap.posture is not None
    for s in snap.posture.settings or ():
        if s.name.startswith("enable_") and _is_off(s.value) and s.boot_value == "on":
            yield Hit(
                object=_setting_ref(s.name),
                message=f"{s.name} = off for every session{scope(snap, s)}: the planner avoids that plan method "
                        "in every query, even where it is the cheapest",
                details={"setting": s.name, "value": s.value, "source": s.source},
                # SET rather than RESET: RESET only drops an ALTER SYSTEM value, not postgresql.conf's
                remediation=alter_system(snap, s.name, "on", s),
            )
    # stored for one role (ALTER ROLE r [IN DATABASE d] SET enable_x = off): this session does not see it;
    # dbaudit's own role's values are the session's, reported above
    for rs in snap.posture.role_settings or ():
        if rs.role is None or rs.role == snap.posture.login or rs.database not in (None, snap.database):
            continue
        for name, value in sorted(rs.settings.items()):
            server = snap.posture.setting(name)
            default_on = server.boot_value == "on" if server is not None else name not in _OFF_BY_DEFAULT
            if not (name.startswith("enable_") and _is_off(value) and default_on):
                continue
            where = f" in database {rs.database}" if rs.database else ""
            target = pg_ident(rs.role) + (f" IN DATABASE {pg_ident(rs.database)}" if rs.database else "")
            yield Hit(
                object=ObjectRef(type="role", role=rs.role, setting=name),
                message=f"{name} = off for every session of role {rs.role}{where}: the planner avoids that plan "
                        "method in each of its queries, even where it is the cheapest",
                details={"setting": name, "value": value, "source": "database user" if rs.database else "user",
                         "role": rs.role},
                remediation=f"ALTER ROLE {target} RESET {name};  -- new sessions get the server's value",
            )
    cost = snap.posture.setting("random_page_cost")
    seq = snap.posture.setting("seq_page_cost")
    if cost is not None and cost.is_default and (seq is None or seq.is_default):
        yield Hit(
            object=_setting_ref("random_page_cost"),
            message=f"random_page_cost = 4{scope(snap, cost)}, the built-in default for spinning disks: on SSD or "
                    "when the data fits in memory the planner then overprices index scans",
            details={"setting": "random_page_cost", "value": cost.value, "source": cost.source},
            remediation=alter_system(snap, "random_page_cost", "1.1", cost),
            severity=Severity.INFO,
        )


# ------------------------------------------------------------------------------------------------------------
# ST08 cache-hit-ratio
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheHitRatioOptions:
    target_pct: float = 99.0  # PgHero's cache_hit_rate_threshold
    min_blocks: int = 100_000  # block (page) requests before a ratio counts


@check(code="ST08", name="cache-hit-ratio", severity=Severity.WARNING, engines=BOTH, options=CacheHitRatioOptions,
       requires=(requires_posture(postgresql=("io",), mysql=("status",)),))
def cache_hit_ratio(snap: Snapshot, opts: CacheHitRatioOptions) -> Iterator[Hit]:
    """Table or index reads miss the database cache more often than the target allows.

    ## What it does
    PostgreSQL: the share of block requests of the audited tables (heap) and of their indexes served from
    shared buffers, as PgHero computes it from pg_statio_user_tables and pg_statio_user_indexes.
    MySQL/MariaDB: the share of InnoDB page requests served by the buffer pool (`1 - Innodb_buffer_pool_reads
    / Innodb_buffer_pool_read_requests`). Flags a ratio below `target_pct` once there are at least
    `min_blocks` requests, naming the tables that read the most from outside the cache.

    ## Why is this bad?
    Every miss is a read from the operating system's cache at best, from the disk at worst: queries slow down
    as soon as the working set outgrows the cache.

    ## Example
    A 30 GB table scanned every hour on a server with 1 GB of shared buffers.

    ## Fix
    Give the cache more memory (`shared_buffers`, `innodb_buffer_pool_size`; a restart on PostgreSQL), or read
    less: the index that turns the scan into a lookup (WL02), archiving cold rows.

    ## Options
    - `target_pct` (default 99): PgHero's `cache_hit_rate_threshold`; pg-extras' `diagnose` expects 98.5 %,
      MySQLTuner warns below 90 % for InnoDB. The quality metric `cache_hit_ratio_pct` uses the same target
      (`[tool.dbaudit.targets] cache_hit_ratio_pct` moves both).
    - `min_blocks` (default 100,000): fewer requests since the statistics were reset or the server started say
      nothing yet (a cold start reads everything once).

    ## Known problems
    PostgreSQL's misses may still be served by the operating system's cache: a low ratio is a cost, not
    necessarily disk reads.

    ## References
    - PgHero `table_hit_rate` / `index_hit_rate`, `cache_hit_rate_threshold = 99`
    - pg-extras `cache_hit`, `diagnose` (`PG_EXTRAS_TABLE_CACHE_HIT_MIN_EXPECTED = 0.985`)
    - MySQLTuner `pct_read_efficiency`
    """
    for ratio in hit_ratios(snap.engine, snap.posture):
        value = ratio.pct
        if value is None or ratio.requests < opts.min_blocks or value >= opts.target_pct:
            continue
        message = (f"{pct(value)} of the {ratio.kind} block requests were served from the cache "
                   f"({ratio.reads:,} of {ratio.requests:,} read from outside it), below the {opts.target_pct:g} % "
                   "target")
        details: dict[str, object] = {"kind": ratio.kind, "hit_pct": round(value, 3), "hits": ratio.hits,
                                      "reads": ratio.reads, "target_pct": opts.target_pct}
        if snap.engine == "postgresql" and snap.posture is not None and snap.posture.io is not None:
            tables, indexes = snap.posture.io_by_kind
            rows = tables if ratio.kind == "table" else indexes
            top = heapq.nlargest(3, rows, key=_blocks_read)  # as a stable sort by reads, without sorting all
            names = [f"{r.schema}.{r.index or r.table}" for r in top if r.blks_read]
            if names:
                message += "; most reads: " + ", ".join(names)
                details["most_reads"] = names
            advice = "raise shared_buffers (a restart) or read less (WL02's indexes, archiving cold rows)"
        else:
            advice = "raise innodb_buffer_pool_size or read less (WL02's indexes, archiving cold rows)"
        # PostgreSQL has two ratios: each its own object, so that baselining one does not silence the other
        kind = f"{ratio.kind} cache" if snap.engine == "postgresql" else "database"
        yield Hit(
            object=ObjectRef(type=kind, database=snap.database or None),
            message=f"{message}: {advice}",
            details=details,
        )

