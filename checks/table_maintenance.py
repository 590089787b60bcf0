"""Maintenance of the audited tables: freezing before wraparound, dead rows, autovacuum switched off per table,
stale planner statistics, heap and index bloat, InnoDB fragmentation.

The checks' family is ``maintenance`` (the session, replication-horizon and prepared-transaction checks of the
same family live beside them). They read the activity counters of :class:`auditor.model.TableStats`, the
autovacuum settings of the posture and the freeze ages, storage parameters and bloat estimates of
:class:`auditor.maintenance.Maintenance`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from auditor.engine import Precondition, Unmet, check
from auditor.maintenance import (
    ANALYZE_MIN_MINUTES,
    ANALYZE_MIN_ROWS,
    ANALYZE_TRIGGER_FACTOR,
    DEAD_MIN_PCT,
    DEAD_MIN_ROWS,
    FREEZE_AREA,
    INDEX_BLOAT_AREA,
    INNODB_STATS_AREA,
    TABLE_BLOAT_AREA,
    TableFreeze,
    analyze_late,
    innodb_analyze_late,
    never_analyzed,
    table_rows,
    vacuum_late,
)
from auditor.model import Hit, ObjectRef, Severity, Snapshot, Table
from auditor.sqlquote import mysql_qualified, pg_literal, pg_qualified
from checks._posture import pct, requires_posture, size

FAMILY = "maintenance"
PG_ONLY_NA = {"mysql": "MySQL/MariaDB have no vacuum: InnoDB purges old row versions by itself"}
WRAPAROUND_NA = {"mysql": "InnoDB transaction ids are 48-bit and are never frozen: they do not wrap around"}

# Maintenance part -> the Note area its connector writes when it cannot read it
_AREA_OF = {"freeze": FREEZE_AREA, "databases": "database_freeze", "table_bloat": TABLE_BLOAT_AREA,
            "index_bloat": INDEX_BLOAT_AREA, "innodb": INNODB_STATS_AREA, "innodb_counters": INNODB_STATS_AREA}
_WHAT = {"freeze": "the freeze ages and storage parameters of the tables (pg_class)",
         "databases": "the freeze ages of the databases (pg_database)",
         "table_bloat": "the heap size estimates (pg_stats)",
         "index_bloat": "the B-tree size estimates (pg_stats)",
         "innodb": "the InnoDB tables' free space (information_schema.TABLES)",
         "innodb_counters": "InnoDB's statistics counters (INNODB_SYS_TABLESTATS / INNODB_TABLESTATS)"}


def requires_maintenance(*, postgresql: tuple[str, ...] = (), mysql: tuple[str, ...] = ()) -> Precondition:
    """The maintenance parts a check reads, per engine; a missing one skips the check with its note's GRANT."""
    needed = {"postgresql": postgresql, "mysql": mysql}

    def pre(snap: Snapshot) -> Unmet | None:
        for part in needed.get(snap.engine, ()):
            if snap.maintenance is not None and getattr(snap.maintenance, part) not in (None, False):
                continue
            note = next((n for n in snap.notes if n.area == _AREA_OF[part]), None)
            if note is not None:
                return Unmet(note.message, note.enable)
            return Unmet(f"{_WHAT[part]} were not collected (a snapshot from an older dbaudit, or the query "
                         "was refused)", None)
        return None

    pre.__name__ = "requires_maintenance_" + "_".join(sorted({*postgresql, *mysql}))
    return pre


def _table_ref(t: Table | TableFreeze) -> ObjectRef:
    name = t.name if isinstance(t, Table) else t.table
    return ObjectRef(type="table", schema=t.schema, table=name)


def _setting_number(snap: Snapshot, name: str) -> float | None:
    s = snap.posture.setting(name) if snap.posture is not None else None
    return s.number() if s is not None else None


def _is_false(value: str | None) -> bool:
    return (value or "").strip().lower() in ("false", "off", "0", "no", "f", "n")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


def _last(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _heap_tables(snap: Snapshot) -> Iterator[Table]:
    """Tables and materialized views with their own rows (partitioned parents and foreign tables aside)."""
    return (t for t in snap.tables if t.kind in ("table", "materialized_view"))


# ------------------------------------------------------------------------------------------------------------
# MT01 xid-wraparound, MT02 multixact-wraparound
# ------------------------------------------------------------------------------------------------------------

# PostgreSQL stops assigning transaction ids (multixacts) this close to 2^31 and needs a single-user VACUUM
WRAPAROUND_LIMIT = 2**31


@dataclass(frozen=True)
class XidWraparoundOptions:
    # autovacuum forces an anti-wraparound vacuum at autovacuum_freeze_max_age: an age well past it means
    # those vacuums do not finish (postgres-checkup F003 and pganalyze alert past the freeze max age)
    max_age_factor: float = 1.5
    # PostgreSQL's own emergency point: vacuum_failsafe_age (PostgreSQL 14+, default 1.6 billion)
    error_age: int = 1_600_000_000


@dataclass(frozen=True)
class MultixactWraparoundOptions:
    max_age_factor: float = 1.5  # of autovacuum_multixact_freeze_max_age (default 400 million)
    error_age: int = 1_600_000_000  # vacuum_multixact_failsafe_age's default


def _wraparound(snap: Snapshot, *, multixact: bool, factor: float, error_age: int) -> Iterator[Hit]:
    assert snap.maintenance is not None
    setting = "autovacuum_multixact_freeze_max_age" if multixact else "autovacuum_freeze_max_age"
    unit = "multixacts" if multixact else "transactions"
    what = "multixact" if multixact else "transaction id (XID)"
    freeze_max = _setting_number(snap, setting) or (400_000_000 if multixact else 200_000_000)
    limit = factor * freeze_max
    fired = False
    for f in snap.maintenance.freeze or ():
        if f.kind == "partitioned":
            continue  # no rows, no relfrozenxid: its partitions are judged one by one
        heap = f.mxid_age if multixact else f.xid_age
        toast = f.toast_mxid_age if multixact else f.toast_xid_age
        ages = [(age, part) for age, part in ((heap, "table"), (toast, "TOAST table")) if age is not None]
        if not ages:
            continue
        age, part = max(ages)
        if age <= limit:
            continue
        fired = True
        left = WRAPAROUND_LIMIT - age
        which = "its TOAST table's oldest" if part == "TOAST table" else "its oldest"
        yield Hit(
            object=_table_ref(f),
            message=f"{which} unfrozen {what} is {age:,} {unit} old, {age / freeze_max:.1f} times "
                    f"{setting} ({freeze_max:,.0f}): the anti-wraparound vacuums autovacuum forces from that "
                    f"age on are not finishing; {left:,} {unit} remain before PostgreSQL stops accepting writes",
            details={"age": age, "part": part, "freeze_max_age": int(freeze_max), "remaining": left,
                     "max_age_factor": factor},
            remediation=_freeze_fix(f.schema, f.table),
            severity=Severity.ERROR if age >= error_age else None,
        )
    for db in snap.maintenance.databases or ():
        age = db.mxid_age if multixact else db.xid_age
        if age <= limit or (db.name == snap.database and fired):
            continue
        left = WRAPAROUND_LIMIT - age
        where = ("the audited database" if db.name == snap.database
                 else "a database of the same server (XIDs are shared by the whole server)")
        yield Hit(
            object=ObjectRef(type="database", database=db.name),
            message=f"database {db.name}, {where}, holds a {what} {age:,} {unit} old, {age / freeze_max:.1f} "
                    f"times {setting}: some table in it (the audited schemas' are not the cause) is not being "
                    f"frozen; {left:,} {unit} remain before PostgreSQL stops accepting writes",
            details={"database": db.name, "age": age, "freeze_max_age": int(freeze_max), "remaining": left,
                     "allow_connections": db.allow_connections},
            remediation=(f"-- connected to database {db.name}, as its owner or a superuser; find the oldest "
                         "tables first:\n"
                         "SELECT c.oid::regclass, greatest(age(c.relfrozenxid), age(t.relfrozenxid))\n"
                         "  FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid\n"
                         " WHERE c.relkind IN ('r', 'm') ORDER BY 2 DESC LIMIT 10;\n"
                         "VACUUM (FREEZE, VERBOSE);"),
            severity=Severity.ERROR if age >= error_age else None,
        )


def _freeze_fix(schema: str, table: str) -> str:
    return ("-- first end what holds vacuum back (MT03: a long transaction, a prepared transaction, a slot), "
            "else the freeze cannot advance\n"
            f"VACUUM (FREEZE, VERBOSE) {pg_qualified(schema, table)};")


@check(code="MT01", name="xid-wraparound", severity=Severity.WARNING, engines=("postgresql",),
       options=XidWraparoundOptions, category=FAMILY, not_applicable=WRAPAROUND_NA,
       requires=(requires_maintenance(postgresql=("freeze", "databases")),
                 requires_posture(postgresql=("settings",))),
       reads=())
def xid_wraparound(snap: Snapshot, opts: XidWraparoundOptions) -> Iterator[Hit]:
    """A table (or its TOAST) or a database whose transaction ids are far older than autovacuum lets them get.

    ## What it does
    Compares `age(relfrozenxid)` of every audited table and of its TOAST table, and `age(datfrozenxid)` of
    every database of the server, with `autovacuum_freeze_max_age`: past `max_age_factor` times that age it is
    a warning, past `error_age` an error. The age of a healthy table climbs up to the freeze max age, an
    anti-wraparound vacuum brings it down, and it climbs again: that sawtooth is not a finding. Partitioned
    parents hold no rows and have no relfrozenxid; their partitions are judged one by one. A database is
    reported when none of the audited tables explains its age.

    ## Why is this bad?
    Transaction ids are 32-bit. When the oldest unfrozen one gets within 3 million of 2^31, PostgreSQL refuses
    every write until a vacuum freezes the old rows, and on a large table that vacuum takes hours. An age well
    past the freeze max age means the anti-wraparound vacuums are not finishing: something holds the xmin
    horizon back (MT03), a vacuum is cancelled again and again, or autovacuum is throttled (ST02).

    ## Example
    ```text
    public.events: its oldest unfrozen transaction id is 310,000,000 transactions old, 1.6 times
    autovacuum_freeze_max_age
    ```

    ## Fix
    ```sql
    VACUUM (FREEZE, VERBOSE) public.events;
    ```

    ## Options
    - `max_age_factor` (default 1.5): how many times `autovacuum_freeze_max_age` (default 200 million) the age
      may reach before it is reported. postgres-checkup (F003) and pganalyze's wraparound alert both judge the
      age against the freeze max age; 1.5 leaves room for an anti-wraparound vacuum in progress.
    - `error_age` (default 1.6 billion): PostgreSQL's own `vacuum_failsafe_age` default, where vacuum drops
      its cost limits to avoid a shutdown. PgHero's `transaction_id_danger` warns with 10 million left.

    ## Known problems
    The age is the server's at collection time; a VACUUM running now brings it down when it finishes.

    ## References
    - https://www.postgresql.org/docs/current/routine-vacuuming.html#VACUUM-FOR-WRAPAROUND
    - PgHero `transaction_id_danger`, postgres-checkup F003, pganalyze "Transaction ID wraparound"
    """
    yield from _wraparound(snap, multixact=False, factor=opts.max_age_factor, error_age=opts.error_age)


@check(code="MT02", name="multixact-wraparound", severity=Severity.WARNING, engines=("postgresql",),
       options=MultixactWraparoundOptions, category=FAMILY, not_applicable=WRAPAROUND_NA,
       requires=(requires_maintenance(postgresql=("freeze", "databases")),
                 requires_posture(postgresql=("settings",))),
       reads=())
def multixact_wraparound(snap: Snapshot, opts: MultixactWraparoundOptions) -> Iterator[Hit]:
    """A table (or its TOAST) or a database whose multixacts are far older than autovacuum lets them get.

    ## What it does
    The same as MT01 for multixact ids: compares `mxid_age(relminmxid)` of every audited table and its TOAST,
    and `mxid_age(datminmxid)` of every database, with `autovacuum_multixact_freeze_max_age`. Past
    `max_age_factor` times that age it is a warning, past `error_age` an error; the sawtooth of a healthy
    table and partitioned parents (no relminmxid) are not findings.

    ## Why is this bad?
    Multixacts record several transactions locking one row (foreign key checks, `SELECT ... FOR SHARE`). They
    wrap around like transaction ids, and PostgreSQL stops writes the same way when the oldest one gets too
    close; the member storage (pg_multixact/members) can also run out first.

    ## Example
    ```text
    public.orders: its oldest unfrozen multixact is 700,000,000 multixacts old, 1.8 times
    autovacuum_multixact_freeze_max_age
    ```

    ## Fix
    ```sql
    VACUUM (FREEZE, VERBOSE) public.orders;
    ```

    ## Options
    - `max_age_factor` (default 1.5): how many times `autovacuum_multixact_freeze_max_age` (default 400
      million) the age may reach (postgres-checkup F003 judges both ages against their freeze max ages).
    - `error_age` (default 1.6 billion): PostgreSQL's `vacuum_multixact_failsafe_age` default.

    ## Known problems
    Multixact member space is not measured; a server with very wide multixacts can hit that limit first.

    ## References
    - https://www.postgresql.org/docs/current/routine-vacuuming.html#VACUUM-FOR-MULTIXACT-WRAPAROUND
    - postgres-checkup F003, pganalyze "Multixact ID wraparound"
    """
    yield from _wraparound(snap, multixact=True, factor=opts.max_age_factor, error_age=opts.error_age)


# ------------------------------------------------------------------------------------------------------------
# MT06 dead-tuples
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadTuplesOptions:
    min_dead_pct: float = DEAD_MIN_PCT  # dead rows as a share of live + dead
    min_dead_rows: int = DEAD_MIN_ROWS  # small tables are vacuumed in an instant whenever it happens
    # a holder of vacuum's horizon this many transactions old is named as the cause: MT03's max_xmin_age default
    holder_min_xmin_age: int = 1_000_000


@dataclass(frozen=True)
class _Holder:
    """What holds back vacuum's horizon for a table's database (as MT03 names it), and how to end it."""

    age: int
    what: str
    fix: str


def _horizon_holders(snap: Snapshot, t: Table, min_age: int) -> list[_Holder]:
    """The holders that keep the table's dead rows from being removed, oldest first: a session of the audited
    database (or a standby's feedback through a walsender), a prepared transaction, a physical slot's xmin, whose
    horizon is at least ``min_age`` transactions old or began before the table's last vacuum (which then ran and
    left the rows). A logical slot's catalog_xmin holds only the system catalogs: not a holder of a table."""
    last = _last(t.stats.last_vacuum, t.stats.last_autovacuum)

    def held_before(moment: datetime | None) -> bool:
        return last is not None and moment is not None and moment < last

    out: list[_Holder] = []
    for b in snap.activity.backends if snap.activity is not None else ():
        age = max(b.xmin_age or 0, b.xid_age or 0)
        if b.is_self or not age:
            continue
        if b.backend_type == "walsender":
            if age >= min_age:
                name = b.application_name or "?"
                out.append(_Holder(age, f"the standby {name}'s hot_standby_feedback (walsender {b.pid})",
                                   "-- on the standby: end or shorten its long queries (MT03)"))
            continue
        if b.backend_type != "client backend" or (b.database is not None and b.database != snap.database):
            continue
        if age >= min_age or held_before(b.xact_start):
            about = [b.state] if b.state else []
            if b.xact_start is not None:
                about.append(f"transaction open since {_when(b.xact_start)}")
            state = f" ({', '.join(about)})" if about else ""
            out.append(_Holder(age, f"session {b.pid} of {b.user or '?'}{state}",
                               f"SELECT pg_terminate_backend({b.pid});  -- after checking with its owner: its "
                               "open transaction is rolled back"))
    if snap.replication is not None:
        for x in snap.replication.prepared_xacts or ():
            if x.xid_age is not None and (x.xid_age >= min_age or held_before(x.prepared)):
                out.append(_Holder(x.xid_age, f"prepared transaction {x.gid!r}",
                                   f"-- once its transaction manager has decided: ROLLBACK PREPARED "
                                   f"{pg_literal(x.gid)}; (or COMMIT PREPARED), in database {x.database or '?'}"))
        for slot in snap.replication.slots or ():
            if (slot.xmin_age or 0) >= min_age:
                out.append(_Holder(slot.xmin_age or 0, f"replication slot {slot.name}'s xmin",
                                   f"-- only if its consumer is gone for good: SELECT pg_drop_replication_slot("
                                   f"{pg_literal(slot.name)});"))
    return sorted(out, key=lambda h: -h.age)


def _autovacuum_busy_with(snap: Snapshot, t: Table) -> bool:
    """An autovacuum worker is on this table right now (its pg_stat_activity query names it)."""
    if snap.activity is None:
        return False
    for b in snap.activity.backends:
        text = (b.statement or "").lower()
        if b.backend_type == "autovacuum worker" and text.startswith("autovacuum:") \
                and f"{t.schema}.{t.name}".lower() in text:
            return True
    return False


@check(code="MT06", name="dead-tuples", severity=Severity.WARNING, engines=("postgresql",),
       options=DeadTuplesOptions, category=FAMILY, not_applicable=PG_ONLY_NA,
       requires=(requires_posture(postgresql=("settings",)),), reads=("tables",))
def dead_tuples(snap: Snapshot, opts: DeadTuplesOptions) -> Iterator[Hit]:
    """Dead rows past the point where autovacuum should have vacuumed the table, and a real share of it.

    ## What it does
    Flags a table whose dead rows (`n_dead_tup`) exceed its autovacuum trigger,
    `autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor x reltuples` (the table's own storage
    parameters first), and are at least `min_dead_pct` % of its rows and `min_dead_rows` in number. A table
    vacuumed after its purge has few dead rows left and is silent; so are small tables. The share is
    `n_dead_tup / (n_live_tup + n_dead_tup)`, the dead rows among the row versions the heap holds, as
    pgstattuple counts them (`dead_tuple_count / (tuple_count + dead_tuple_count)`): 80 % of the rows deleted
    is 80 %, every row updated once is 50 %. When something holds vacuum's horizon back for the table's
    database (what MT03 reports: a session of that database, a prepared transaction, a physical slot's xmin, a
    standby's feedback) for at least `holder_min_xmin_age` transactions, or since before the table's last
    vacuum, no VACUUM can remove the rows: the finding names the holder and the fix ends it first. When the
    dead rows outlived a recent vacuum without a visible holder, the finding says so. When an autovacuum
    worker is on the table at collection time, the finding is only info.

    ## Why is this bad?
    Dead rows take space in the table and its indexes until a vacuum removes them: scans read them, the cache
    holds them, and the table bloats for good once new rows go to the end instead of the freed space.

    ## Example
    ```sql
    DELETE FROM events WHERE created_at < now() - interval '90 days';  -- 80 % of the table, autovacuum off
    ```

    ## Fix
    ```sql
    VACUUM (VERBOSE, ANALYZE) public.events;
    ```
    While the horizon is held, end the holder first (MT03), then vacuum:
    ```sql
    SELECT pg_terminate_backend(4242);  -- after checking with its owner
    VACUUM (VERBOSE, ANALYZE) public.events;
    ```

    ## Options
    - `min_dead_pct` (default 10): dead rows as a share of live and dead ones; pg-extras' `vacuum_stats` lists
      tables past their trigger (expect_autovacuum) whatever the share, PgHero's maintenance page shows the
      same counters; a share keeps tables with a tiny per-table scale factor out.
    - `min_dead_rows` (default 10,000): fewer dead rows are vacuumed in an instant whenever it happens.
    - `holder_min_xmin_age` (default 1,000,000 transactions): MT03's `max_xmin_age` default; set both alike.

    ## Known problems
    `n_dead_tup` is an estimate kept by the statistics system; it is reset with the statistics (after a crash,
    `pg_stat_reset()`), which can hide dead rows until the next vacuum counts them. A session's counters reach
    the statistics when it goes idle (up to a few seconds later): a VACUUM or ANALYZE run right after the
    DELETE in the same session can have its counts overwritten by the DELETE's, until the next vacuum.

    ## References
    - https://www.postgresql.org/docs/current/routine-vacuuming.html#AUTOVACUUM
    - pg-extras `vacuum_stats`, PgHero maintenance, pganalyze VACUUM advisor ("dead rows")
    """
    for t in _heap_tables(snap):
        late = vacuum_late(snap, t, opts.min_dead_pct, opts.min_dead_rows)
        if late is None:
            continue
        dead, share, trigger = late
        live = t.stats.n_live_tup or 0
        last = _last(t.stats.last_vacuum, t.stats.last_autovacuum)
        busy = _autovacuum_busy_with(snap, t)
        holders = _horizon_holders(snap, t, opts.holder_min_xmin_age)
        vacuum = f"VACUUM (VERBOSE, ANALYZE) {pg_qualified(t.schema, t.name)};"
        if holders:
            first = holders[0]
            others = f" (and {len(holders) - 1} more holder{'s' if len(holders) > 2 else ''})" \
                if len(holders) > 1 else ""
            # MT03 reports a holder from its max_xmin_age (holder_min_xmin_age's default): a younger one, named
            # because it began before the vacuum that left the rows, has no MT03 finding to point to (rt16)
            old_enough = first.age >= opts.holder_min_xmin_age
            back = f" {first.age:,} transactions" if old_enough else ""
            code = " (MT03)" if old_enough else ""
            tail = (f"; no VACUUM can remove them while {first.what} holds vacuum's xmin horizon{back} back"
                    f"{others}{code}" + (f": the vacuum of {_when(last)} left them" if last is not None else ""))
            fix = (f"-- VACUUM cannot remove these rows while vacuum's horizon is held{code}: end the holder "
                   f"first, {first.what}:\n{first.fix}\n-- then autovacuum removes them, or at once:\n{vacuum}")
        elif busy:
            tail = "; an autovacuum worker is on it right now"
            fix = vacuum
        elif last is None:
            tail = "; it was never vacuumed since the statistics were reset"
            fix = vacuum
        else:
            # no holder in the snapshot, so no MT03 finding to cite: say what can hold it
            tail = (f"; last vacuumed {_when(last)}: if that vacuum ran after the rows died, something holds "
                    "vacuum's horizon back (a long or idle transaction, a prepared transaction, a replication slot)")
            fix = vacuum
        yield Hit(
            object=_table_ref(t),
            message=f"{dead:,} dead rows ({pct(share)} of its live and dead rows) against an autovacuum trigger "
                    f"of {trigger:,.0f}{tail}",
            details={"n_dead_tup": dead, "n_live_tup": live, "dead_pct": round(share, 1),
                     "trigger": round(trigger), "last_vacuum": _when(t.stats.last_vacuum),
                     "last_autovacuum": _when(t.stats.last_autovacuum), "autovacuum_running": busy,
                     "horizon_held_by": [h.what for h in holders]},
            remediation=fix,
            severity=Severity.INFO if busy and not holders else None,
        )


# ------------------------------------------------------------------------------------------------------------
# MT07 autovacuum-disabled
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutovacuumDisabledOptions:
    min_changes: int = 1_000  # rows inserted, updated or deleted since the statistics were reset
    min_bytes: int = 10 * 1024**2  # or a table at least this large


@check(code="MT07", name="autovacuum-disabled", severity=Severity.WARNING, engines=("postgresql",),
       options=AutovacuumDisabledOptions, category=FAMILY, not_applicable=PG_ONLY_NA,
       requires=(requires_maintenance(postgresql=("freeze",)),), reads=("tables",))
def autovacuum_disabled(snap: Snapshot, opts: AutovacuumDisabledOptions) -> Iterator[Hit]:
    """Autovacuum switched off for a table (or its TOAST) that changes or is large.

    ## What it does
    Flags the storage parameters `autovacuum_enabled = false` and `toast.autovacuum_enabled = false` on a
    table with at least `min_changes` rows inserted, updated or deleted since the statistics were reset, or at
    least `min_bytes` large. Per-table tuning (scale factors, thresholds, cost limits) is not disabling and is
    not reported; a small table nobody writes to costs nothing unvacuumed.

    ## Why is this bad?
    Autovacuum then neither vacuums nor analyzes the table: dead rows pile up (MT06), statistics go stale
    (MT08), and only the emergency anti-wraparound vacuum still runs, late and unthrottled. With
    `toast.autovacuum_enabled = false` alone the table is still vacuumed and analyzed, but its TOAST table
    (the out-of-line values of long columns) is not, and bloats. The setting is usually left over from a bulk
    load.

    ## Example
    ```sql
    ALTER TABLE events SET (autovacuum_enabled = false);  -- for the import, three years ago
    ```

    ## Fix
    ```sql
    ALTER TABLE public.events RESET (autovacuum_enabled);
    ```

    ## Options
    - `min_changes` (default 1,000) and `min_bytes` (default 10 MiB): the churn or size from which a table
      needs vacuuming; pganalyze's VACUUM advisor and postgres-checkup (F001) list every table with
      autovacuum off, dbaudit leaves out tables too small and too quiet to matter.

    ## Known problems
    A table whose changes all happened before the last statistics reset and that is under `min_bytes` is not
    reported. Sizes are `relpages` (read without a lock on each relation, unlike `pg_relation_size`), as of the
    table's last VACUUM or ANALYZE, which on a table with autovacuum off may be long ago: the message says
    which of them measured the size and when, and the rows written since its last ANALYZE; a table that grew
    since then is judged on its old size against `min_bytes`.

    ## References
    - https://www.postgresql.org/docs/current/sql-createtable.html#RELOPTION-AUTOVACUUM-ENABLED
    - postgres-checkup F001 (per-table autovacuum settings), pganalyze VACUUM advisor
    """
    assert snap.maintenance is not None
    for t in _heap_tables(snap):
        f = snap.maintenance.freeze_of(t.schema, t.name)
        if f is None:
            continue
        off = [prefix for prefix, toast in (("", False), ("toast.", True))
               if _is_false(f.option("autovacuum_enabled", toast=toast))]
        if not off:
            continue
        s = t.stats
        changes = (s.n_tup_ins or 0) + (s.n_tup_upd or 0) + (s.n_tup_del or 0)
        total = t.total_bytes or 0
        if changes < opts.min_changes and total < opts.min_bytes:
            continue
        names = " and ".join(f"{p}autovacuum_enabled = false" for p in off)
        evidence = []
        if changes >= opts.min_changes:
            evidence.append(f"{changes:,} rows written since the statistics were reset")
        # the size is relpages', as of the last VACUUM or ANALYZE: with autovacuum off, maybe long ago
        analyzed, vacuumed = _last(s.last_analyze, s.last_autoanalyze), _last(s.last_vacuum, s.last_autovacuum)
        measured = _last(analyzed, vacuumed)
        measured_by = None if measured is None else "ANALYZE" if measured == analyzed else "VACUUM"
        if t.total_bytes is None:
            evidence.append("size unknown: never vacuumed nor analyzed")
        elif measured is None:
            # no VACUUM nor ANALYZE on record: relpages comes from one before the reset, or from a CREATE INDEX
            evidence.append(f"{size(total)} as the catalog last recorded it, with no VACUUM or ANALYZE on record "
                            "since the statistics were reset (the figure is from an earlier one or a CREATE INDEX)")
        else:
            since = f", {s.n_mod_since_analyze:,} rows written since" \
                if measured_by == "ANALYZE" and s.n_mod_since_analyze else ""
            evidence.append(f"{size(total)} as of its last {measured_by} on {_when(measured)}{since}")
        if off == ["toast."]:
            # the heap is still vacuumed and analyzed: only its TOAST table is skipped; the figures are the heap's
            message = (f"{names}: autovacuum skips the table's TOAST table (the table itself is still vacuumed "
                       f"and analyzed) although the table changes or is large ({'; '.join(evidence)}); dead "
                       "out-of-line values pile up there, and only the emergency anti-wraparound vacuum still "
                       "vacuums it")
        else:
            if s.n_dead_tup:
                evidence.append(f"{s.n_dead_tup:,} dead rows now")
            message = (f"{names}: autovacuum neither vacuums nor analyzes it although it changes or is large "
                       f"({'; '.join(evidence)}); only the emergency anti-wraparound vacuum still runs")
        yield Hit(
            object=_table_ref(t),
            message=message,
            details={"reloptions": [f"{p}autovacuum_enabled=false" for p in off], "changes": changes,
                     "total_bytes": total, "n_dead_tup": s.n_dead_tup,
                     "size_as_of": _when(measured) if measured is not None else None,
                     "size_measured_by": measured_by},
            remediation="\n".join(f"ALTER TABLE {pg_qualified(t.schema, t.name)} RESET ({p}autovacuum_enabled);"
                                  for p in off),
        )


# ------------------------------------------------------------------------------------------------------------
# MT08 stale-statistics
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaleStatisticsOptions:
    # modifications since the last analyze, as a multiple of the analyze trigger
    trigger_factor: float = ANALYZE_TRIGGER_FACTOR
    min_rows: int = ANALYZE_MIN_ROWS  # smaller tables are planned well enough on any statistics
    min_stale_minutes: float = ANALYZE_MIN_MINUTES  # PostgreSQL: the last analyze at least this old


def _unreadable(snap: Snapshot) -> set[str]:
    return {o for n in snap.notes if n.area == "privileges" for o in n.objects}


@check(code="MT08", name="stale-statistics", severity=Severity.WARNING, engines=("postgresql", "mysql"),
       options=StaleStatisticsOptions, category=FAMILY,
       requires=(requires_posture(postgresql=("settings",)), requires_maintenance(mysql=("innodb", "innodb_counters"))),
       reads=("tables", "columns"))
def stale_statistics(snap: Snapshot, opts: StaleStatisticsOptions) -> Iterator[Hit]:
    """A table with rows that was never analyzed, or changed far past the point where it should have been.

    ## What it does
    PostgreSQL: flags a table with at least `min_rows` rows and no planner statistics at all (no column in
    pg_stats, never analyzed since the statistics were reset), and a table of `min_rows` rows whose
    modifications since the last analyze (`n_mod_since_analyze`) exceed `trigger_factor` times its autovacuum
    analyze trigger (`autovacuum_analyze_threshold + autovacuum_analyze_scale_factor x reltuples`, the table's
    own storage parameters first) while that analyze is at least `min_stale_minutes` old: a busy table that
    autovacuum analyzes every few minutes is kept up with, whatever it gathered since (a table autovacuum may
    not analyze, `autovacuum_enabled = false` or autovacuum off, is judged however recent its analyze).
    MySQL/MariaDB: flags an InnoDB table whose rows modified since its statistics were computed
    (`MODIFIED_COUNTER`) exceed `trigger_factor` times InnoDB's own recalculation point, 10 % of its rows. A
    table bulk-loaded and then analyzed has nothing modified since and is silent; so are small tables.

    ## Why is this bad?
    The planner estimates row counts from these statistics. Stale ones make it pick nested loops over
    millions of rows, or scans where an index would serve, and the plans change abruptly when the statistics
    finally catch up.

    ## Example
    ```sql
    COPY events FROM 'events.csv';  -- 5 million rows into an empty table, then straight into production
    ```

    ## Fix
    ```sql
    ANALYZE public.events;
    ```
    ```sql
    ANALYZE TABLE shop.events;
    ```

    ## Options
    - `trigger_factor` (default 2): how far past the analyze trigger the modifications may go; autovacuum
      analyzes at 1, so twice that means it is not keeping up (or is off: MT07). On InnoDB the trigger is the
      10 % of `innodb_stats_auto_recalc`.
    - `min_rows` (default 1,000): smaller tables are planned well on any statistics.
    - `min_stale_minutes` (default 60): autovacuum visits each database every `autovacuum_naptime` (1 minute);
      an hour without an analyze while far past the trigger means it is not keeping up.

    ## Known problems
    Partitioned parents are never analyzed by autovacuum and are not judged here; run `ANALYZE` on them after
    large changes. On MySQL/MariaDB InnoDB knows the modification counter only for tables it has opened since
    the server started, and a table whose statistics are not persistent is recalculated when it is opened.

    ## References
    - https://www.postgresql.org/docs/current/routine-vacuuming.html#VACUUM-FOR-STATISTICS
    - pg-extras `vacuum_stats` (expect_autoanalyze), PgHero maintenance (last analyze),
      MySQLTuner (innodb_stats_on_metadata, stale statistics)
    - https://dev.mysql.com/doc/refman/8.0/en/innodb-persistent-stats.html (10 % recalculation)
    """
    if snap.engine == "postgresql":
        yield from _pg_stale(snap, opts)
    else:
        yield from _mysql_stale(snap, opts)


def _pg_stale(snap: Snapshot, opts: StaleStatisticsOptions) -> Iterator[Hit]:
    unreadable = _unreadable(snap)
    for t in _heap_tables(snap):
        s = t.stats
        if never_analyzed(t, t.qualified in unreadable, opts.min_rows):
            rows = max(table_rows(t), float(s.n_live_tup or 0))
            yield Hit(
                object=_table_ref(t),
                message=f"about {rows:,.0f} rows and no planner statistics: the table was never analyzed, so "
                        "the planner guesses its row counts and value distributions",
                details={"rows": round(rows), "last_analyze": "never",
                         "n_mod_since_analyze": s.n_mod_since_analyze},
                remediation=f"ANALYZE {pg_qualified(t.schema, t.name)};",
            )
            continue
        late = analyze_late(snap, t, opts.trigger_factor, opts.min_rows, opts.min_stale_minutes)
        if late is None:
            continue
        modified, trigger = late
        rows = max(table_rows(t), float(s.n_live_tup or 0))
        analyzed = _last(s.last_analyze, s.last_autoanalyze)
        yield Hit(
            object=_table_ref(t),
            message=f"{modified:,} rows modified since the last analyze ({_when(analyzed)}), "
                    f"{modified / trigger:.1f} times the autovacuum analyze trigger of {trigger:,.0f}: the "
                    "planner works from statistics of a table that has changed",
            details={"n_mod_since_analyze": modified, "trigger": round(trigger), "rows": round(rows),
                     "last_analyze": _when(s.last_analyze), "last_autoanalyze": _when(s.last_autoanalyze),
                     "trigger_factor": opts.trigger_factor},
            remediation=f"ANALYZE {pg_qualified(t.schema, t.name)};",
        )


def _mysql_stale(snap: Snapshot, opts: StaleStatisticsOptions) -> Iterator[Hit]:
    assert snap.maintenance is not None
    for t in snap.tables:
        if t.kind != "table" or (t.engine or "").lower() != "innodb":
            continue
        st = snap.maintenance.innodb_of(t.schema, t.name)
        late = None if st is None else innodb_analyze_late(st, opts.trigger_factor, opts.min_rows)
        if st is None or late is None or st.stats_rows is None:
            continue
        modified, trigger = late
        rows = max(st.stats_rows, t.estimated_rows or 0)
        recalc = ("automatic recalculation is off for it (STATS_AUTO_RECALC=0 or innodb_stats_auto_recalc=OFF)"
                  if st.auto_recalc is False else "InnoDB's automatic recalculation has not caught up")
        yield Hit(
            object=_table_ref(t),
            message=f"{modified:,} rows modified since InnoDB last computed its statistics (on "
                    f"{st.stats_rows:,} rows), {modified / trigger:.1f} times its 10 % recalculation point: "
                    f"{recalc}",
            details={"modified": modified, "stats_rows": st.stats_rows, "rows": rows,
                     "auto_recalc": st.auto_recalc, "stats_updated": st.stats_updated,
                     "trigger_factor": opts.trigger_factor},
            remediation=f"ANALYZE TABLE {mysql_qualified(t.schema, t.name)};",
        )


# ------------------------------------------------------------------------------------------------------------
# MT09 table-bloat, MT10 index-bloat
# ------------------------------------------------------------------------------------------------------------

# the pgexperts bloat query's own warning: "is often off by +/- 20%"; a share past that margin is bloat
_BLOAT_PCT = 30.0
# PgHero's index bloat page lists indexes with at least 100 MB of estimated bloat
_BLOAT_BYTES = 100 * 1024**2


@dataclass(frozen=True)
class TableBloatOptions:
    min_bloat_pct: float = _BLOAT_PCT  # estimated free space as a share of the heap
    min_bloat_bytes: int = _BLOAT_BYTES  # and in bytes


@dataclass(frozen=True)
class IndexBloatOptions:
    min_bloat_pct: float = _BLOAT_PCT
    min_bloat_bytes: int = _BLOAT_BYTES


def _estimates_readable(part: str) -> Precondition:
    """At least one estimate was possible, unless there is nothing to estimate; when every table's columns are
    hidden from the audit role, the check is skipped with the grant that shows them."""

    def pre(snap: Snapshot) -> Unmet | None:
        if snap.engine != "postgresql" or snap.maintenance is None:
            return None
        rows = getattr(snap.maintenance, part) or ()
        if not rows or any(r.estimable for r in rows):
            return None
        hidden = [r for r in rows if "may not read" in (r.reason or "")]
        if not hidden:
            return None
        note = next((n for n in snap.notes if n.area == "privileges"), None)
        return Unmet("pg_stats hides the columns of every table from the audit role, so no size can be estimated",
                     note.enable if note is not None else "GRANT pg_read_all_data TO <role>")

    pre.__name__ = f"estimates_readable_{part}"
    return pre


def _stale_for_estimate(snap: Snapshot, schema: str, table: str) -> bool:
    """pg_stats and reltuples describe a table that has changed since (MT08's test): no estimate from them."""
    t = snap.table(schema, table)
    return t is None or analyze_late(snap, t, ANALYZE_TRIGGER_FACTOR, 0, 0) is not None


@check(code="MT09", name="table-bloat", severity=Severity.WARNING, engines=("postgresql",),
       options=TableBloatOptions, category=FAMILY, not_applicable={
           "mysql": "InnoDB's free space is judged by MT11 table-fragmentation"},
       requires=(requires_maintenance(postgresql=("table_bloat",)), _estimates_readable("table_bloat")),
       reads=("tables",))
def table_bloat(snap: Snapshot, opts: TableBloatOptions) -> Iterator[Hit]:
    """A table whose heap is much larger than its live rows need: space left behind by deleted and updated rows.

    ## What it does
    Estimates the pages the live rows need from pg_stats (average column widths, NULL shares, tuple headers
    and alignment, the table's fillfactor), as the ioguix / pgexperts bloat queries do, and compares them with
    the heap's pages (`relpages`). Flags a heap with at least `min_bloat_pct` % and `min_bloat_bytes` of
    estimated free space. TOAST is left out of the estimate (values stored out of line count as their 18-byte
    pointers in pg_stats), so TOAST-heavy tables are not mistaken for bloated ones. Tables whose statistics
    are missing, hidden from the audit role or stale (modified since the last analyze past twice the analyze
    trigger: MT08) are not estimated. When the pgstattuple extension is installed and the audit role may run
    it (`pg_stat_scan_tables`), the candidates (the largest estimated bloat first, and tables without a usable
    estimate; at most 20 heaps and 10 GiB) are measured with `pgstattuple_approx()` instead: free space, less
    what the fillfactor keeps free on purpose. Dead rows are not bloat: plain VACUUM turns them into reusable
    space (MT06 reports them), and while a snapshot still needs them (a held horizon, MT03) neither VACUUM nor
    VACUUM FULL can drop them, so a rewrite under an exclusive lock would buy nothing for them. The estimate
    likewise counts the dead rows (`n_dead_tup`) as filling pages at the live rows' width. The finding says
    how many dead rows there are besides.

    ## Why is this bad?
    Every scan reads the empty space, the cache holds it, and backups copy it. VACUUM makes the space
    reusable but does not return it; a table that once held far more rows stays that large.

    ## Example
    ```text
    public.events: about 1.2 GB of its 1.6 GB heap (75 %) holds no live row
    ```

    ## Fix
    ```sql
    -- VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock (no reads, no writes) for the whole
    -- rewrite; pg_repack does the same online: pg_repack --table=public.events
    VACUUM (FULL, VERBOSE, ANALYZE) public.events;
    ```

    ## Options
    - `min_bloat_pct` (default 30): the pgexperts query warns that its estimate "is often off by +/- 20%";
      past 30 % the space is there.
    - `min_bloat_bytes` (default 100 MiB): PgHero's floor for the bloat worth acting on.

    ## Known problems
    The estimate assumes average widths; tables with very uneven rows, or columns whose statistics are
    sampled from few rows, can be off either way; pgstattuple settles it. `pgstattuple_approx()` reads the pages
    the visibility map does not mark all-visible: on a table never vacuumed, the whole table.

    ## References
    - https://github.com/ioguix/pgsql-bloat-estimation (table/table_bloat.sql)
    - pgexperts pgx_scripts `bloat/table_bloat_check.sql`, postgres-checkup F004 (heap bloat)
    - https://www.postgresql.org/docs/current/routine-vacuuming.html#VACUUM-FOR-SPACE-RECOVERY
    """
    assert snap.maintenance is not None
    for b in snap.maintenance.table_bloat or ():
        heap = b.pages * b.block_size
        dead_pct: float | None
        if b.exact_free_pct is not None:
            # measured: free space, less the room the fillfactor keeps free on purpose; dead rows are not bloat
            # (plain VACUUM turns them into free space, MT06, or nothing can while a snapshot needs them, MT03)
            share = max(0.0, b.exact_free_pct - (100 - b.fillfactor))
            wasted = heap * share / 100.0
            dead_pct = b.exact_dead_pct or 0.0
            how = (f"measured by pgstattuple_approx: {b.exact_free_pct:.1f} % free, fillfactor {b.fillfactor}")
            method = "pgstattuple"
        else:
            # no estimate (b.bloat_pct and b.bloat_bytes None), tested without computing it: a row per table
            if not b.estimable or b.expected_pages is None or b.pages <= 0:
                continue
            t = snap.table(b.schema, b.table)
            if t is None or _stale_for_estimate(snap, b.schema, b.table):
                continue
            # the estimate's live rows (reltuples) leave out the dead ones, which still fill pages: count them
            # at the same width, so that dead rows are not taken for free space
            live = table_rows(t)
            dead = float(t.stats.n_dead_tup or 0)
            needed = b.expected_pages * ((live + dead) / live) if live > 0 else b.expected_pages
            share = max(0.0, 100.0 * (b.pages - needed) / b.pages) if b.pages > 0 else 0.0
            wasted = max(0.0, (b.pages - needed) * b.block_size)
            dead_pct = 100.0 * dead / (live + dead) if live + dead > 0 else 0.0
            how = (f"by the pg_stats estimate ({b.expected_pages:,.0f} pages needed at fillfactor "
                   f"{b.fillfactor}, {b.pages:,} used)")
            method = "estimate"
        if share < opts.min_bloat_pct or wasted < opts.min_bloat_bytes:
            continue
        also = ""
        if dead_pct >= 1.0:
            also = (f"; besides, {pct(dead_pct)} of its row versions are dead rows, which VACUUM FULL copies too "
                    "while a snapshot may still need them (MT03) and plain VACUUM turns into free space (MT06)")
        yield Hit(
            object=ObjectRef(type="table", schema=b.schema, table=b.table),
            message=f"about {size(wasted)} of its {size(heap)} heap ({pct(share)}) is free space no live or dead "
                    f"row uses, {how}{also}",
            details={"bloat_bytes": round(wasted), "bloat_pct": round(share, 1), "pages": b.pages,
                     "expected_pages": b.expected_pages, "fillfactor": b.fillfactor, "method": method,
                     "free_pct": b.exact_free_pct, "dead_pct": round(dead_pct, 1)},
            remediation="-- VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock (no reads, no writes) "
                        "for the whole rewrite;\n-- pg_repack does the same online: "
                        f"pg_repack --table={b.schema}.{b.table}\n"
                        f"VACUUM (FULL, VERBOSE, ANALYZE) {pg_qualified(b.schema, b.table)};",
        )


@check(code="MT10", name="index-bloat", severity=Severity.WARNING, engines=("postgresql",),
       options=IndexBloatOptions, category=FAMILY, not_applicable={
           "mysql": "InnoDB indexes live in the table's tablespace: MT11 table-fragmentation judges its free space"},
       requires=(requires_maintenance(postgresql=("index_bloat",)), _estimates_readable("index_bloat")),
       reads=("tables", "indexes"))
def index_bloat(snap: Snapshot, opts: IndexBloatOptions) -> Iterator[Hit]:
    """A B-tree index much larger than its entries need: pages emptied by deletes and page splits.

    ## What it does
    Estimates the leaf pages a B-tree's entries need from pg_stats (key widths, NULLs, tuple headers and
    alignment, the index's fillfactor, 90 by default), as the ioguix btree bloat query does, and compares them
    with the index's pages. Flags an index with at least `min_bloat_pct` % and `min_bloat_bytes` of estimated
    free space. Partial indexes (pg_stats describes every row, not the predicate's), expression keys without
    statistics and indexes of tables with stale statistics are not estimated. Deduplicated indexes
    (PostgreSQL 13+) are smaller than the estimate, never larger, so they are not reported by mistake; a
    freshly rebuilt index is at its estimate. With pgstattuple installed and runnable, the candidates (at
    most 20 B-trees and 10 GiB, partial ones included) are measured with `pgstatindex()`: the leaf density
    against the fillfactor.

    ## Why is this bad?
    A bloated index costs more reads per lookup and more cache, and every write still maintains it. Unlike a
    table, a B-tree rarely gives back the space of a mostly emptied page range.

    ## Example
    ```text
    public.events_created_at_idx: about 800 MB of its 1.1 GB (72 %) holds no entry
    ```

    ## Fix
    ```sql
    REINDEX INDEX CONCURRENTLY public.events_created_at_idx;
    ```

    ## Options
    - `min_bloat_pct` (default 30): past the estimate's margin of error (pgexperts: "+/- 20%").
    - `min_bloat_bytes` (default 100 MiB): PgHero's index bloat page lists indexes with 100 MB of bloat or more.

    ## Known problems
    Inner pages are left out of the estimate (a few percent of a B-tree). `pgstatindex()` reads the whole
    index.

    ## References
    - https://github.com/ioguix/pgsql-bloat-estimation (btree/btree_bloat.sql)
    - PgHero `index_bloat`, pg-index-health "bloated indexes", postgres-checkup F005
    - https://www.postgresql.org/docs/current/sql-reindex.html
    """
    assert snap.maintenance is not None
    for b in snap.maintenance.index_bloat or ():
        whole = b.pages * b.block_size
        if b.exact_leaf_density is not None:
            # measured: a leaf page filled to the fillfactor is a page without bloat
            share = max(0.0, 100.0 * (1 - b.exact_leaf_density / b.fillfactor))
            wasted = whole * share / 100.0
            how = (f"measured by pgstatindex: leaf pages {b.exact_leaf_density:.1f} % full against a fillfactor "
                   f"of {b.fillfactor}")
            method = "pgstatindex"
        else:
            estimated_pct, estimated_bytes = b.bloat_pct, b.bloat_bytes  # each computed once, for every index
            if not b.estimable or estimated_pct is None or estimated_bytes is None:
                continue
            share, wasted, method = estimated_pct, estimated_bytes, "estimate"
            # the thresholds first: the staleness test (the table's autovacuum trigger) is the dearer one, and
            # a table has several indexes
            if share < opts.min_bloat_pct or wasted < opts.min_bloat_bytes:
                continue
            if _stale_for_estimate(snap, b.schema, b.table):
                continue
            how = (f"by the pg_stats estimate ({b.expected_pages:,.0f} pages needed at fillfactor "
                   f"{b.fillfactor}, {b.pages:,} used)")
        if share < opts.min_bloat_pct or wasted < opts.min_bloat_bytes:
            continue
        if snap.server_version_num >= 120000:
            fix = f"REINDEX INDEX CONCURRENTLY {pg_qualified(b.schema, b.index)};"
        else:
            fix = ("-- before PostgreSQL 12 REINDEX blocks writes: build a copy concurrently, then swap\n"
                   f"REINDEX INDEX {pg_qualified(b.schema, b.index)};")
        yield Hit(
            object=ObjectRef(type="index", schema=b.schema, table=b.table, index=b.index),
            message=f"about {size(wasted)} of its {size(whole)} ({pct(share)}) holds no entry, {how}",
            details={"bloat_bytes": round(wasted), "bloat_pct": round(share, 1), "pages": b.pages,
                     "expected_pages": b.expected_pages, "fillfactor": b.fillfactor,
                     "deduplicated": b.deduplicated, "method": method, "leaf_density": b.exact_leaf_density},
            remediation=fix,
        )


# ------------------------------------------------------------------------------------------------------------
# MT11 table-fragmentation
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableFragmentationOptions:
    # free space against the whole tablespace (data + indexes + DATA_FREE), MySQLTuner's fragmentation test
    min_free_pct: float = 10.0
    min_free_bytes: int = 100 * 1024**2  # below that the rebuild is not worth its copy


@check(code="MT11", name="table-fragmentation", severity=Severity.WARNING, engines=("mysql",),
       options=TableFragmentationOptions, category=FAMILY, not_applicable={
           "postgresql": "PostgreSQL's free space in tables and indexes is judged by MT09 and MT10"},
       requires=(requires_maintenance(mysql=("innodb", "innodb_counters")),), reads=("tables",))
def table_fragmentation(snap: Snapshot, opts: TableFragmentationOptions) -> Iterator[Hit]:
    """An InnoDB table whose tablespace holds much free space: what large deletes left behind.

    ## What it does
    Adds up the space of the table's own tablespace that holds no row, from two sources read in bulk:
    `DATA_FREE` (information_schema.TABLES: whole free extents of the tablespace) and the pages allocated to
    the table's indexes, the clustered one included, that hold no leaf: `size - n_leaf_pages` of
    mysql.innodb_index_stats, less the reserve InnoDB keeps in every index (the extent being filled and an
    eighth of the index, its FSEG_FILLFACTOR). Scattered deletes empty pages inside the indexes' extents and
    InnoDB merges the half-empty ones, but an extent is only returned (and counted in `DATA_FREE`) once all its
    pages are free: on MariaDB 10.11, deleting 80 % of a 500,000-row table's rows at random left `DATA_FREE`
    at 5 MB of its 66 MB (8 %, under MySQLTuner's line) while 2,470 of its clustered index's 3,080 pages held
    no leaf. Flags a table with at least `min_free_pct` % of
    its tablespace (data + indexes + `DATA_FREE`) and `min_free_bytes` free. Small absolute amounts are left
    out. Tables in the shared system tablespace (or a general tablespace shared with others) report the free
    space of that whole tablespace, which `OPTIMIZE TABLE` cannot give back: they are not judged. Which
    tablespace a table lives in is known from INNODB_SYS_TABLES (MariaDB) / INNODB_TABLES (MySQL 8), which
    need the PROCESS privilege: without it the check is skipped with that GRANT rather than risk reporting the
    shared tablespace's free space as the table's. Without SELECT on mysql.innodb_index_stats only
    `DATA_FREE` is judged (a note says so): fewer findings, never a false one.

    ## Why is this bad?
    The file keeps its size after a purge: backups, replicas and the buffer pool's read-ahead carry the empty
    pages. New rows reuse the space only where they fit the freed pages.

    ## Example
    ```sql
    DELETE FROM events WHERE created_at < NOW() - INTERVAL 1 YEAR;  -- 70 % of the rows
    ```

    ## Fix
    ```sql
    -- InnoDB rebuilds the table (ALTER TABLE ... FORCE), online; it needs free disk for a copy of the table
    OPTIMIZE TABLE `shop`.`events`;
    ```

    ## Options
    - `min_free_pct` (default 10): MySQLTuner's fragmentation test, `DATA_FREE * 100 / (DATA_LENGTH +
      INDEX_LENGTH + DATA_FREE) > 10`, with the empty index pages added to the free space; the MySQL Shell
      plugin `innodb.getFragmentedTables` (lefred) also starts at 10 %.
    - `min_free_bytes` (default 100 MiB): MySQLTuner only judges tables with more than 100 MB of data; here
      the free space itself must reach 100 MiB, below which the rebuild is not worth its copy.

    ## Known problems
    Leaf pages left partly filled are not counted (InnoDB merges a page only once it is less than half full),
    so the free space reported is a floor: after a scattered purge the rebuilt table can be smaller still.
    Both sources are refreshed with the table statistics (after 10 % of the rows changed with
    `innodb_stats_auto_recalc`, or `ANALYZE TABLE`; `information_schema_stats_expiry` on MySQL 8): a recent
    purge may not show yet.

    ## References
    - https://dev.mysql.com/doc/refman/8.0/en/optimize-table.html
    - https://mariadb.com/kb/en/optimize-table/
    - https://dev.mysql.com/doc/refman/8.0/en/innodb-persistent-stats.html (`size`, `n_leaf_pages`)
    - MySQLTuner (fragmented tables), MySQL Shell plugins `innodb.getFragmentedTables`
    """
    assert snap.maintenance is not None
    for s in snap.maintenance.innodb or ():
        t = snap.table(s.schema, s.table)
        extents = s.data_free or 0
        pages = s.index_free_bytes or 0
        free = extents + pages
        # None: InnoDB has not opened the table since the start, so its tablespace is unknown
        if t is None or t.kind != "table" or not free or s.shared_tablespace is not False:
            continue
        used = (t.table_bytes or 0) + (t.index_bytes or 0)
        whole = used + extents
        share = 100.0 * free / whole if whole else 100.0
        if free < opts.min_free_bytes or share < opts.min_free_pct:
            continue
        if s.index_free_bytes is None:
            why = ("mysql.innodb_index_stats has no figures for it (STATS_PERSISTENT=0)"
                   if "innodb_index_stats" in snap.capabilities else "mysql.innodb_index_stats is not readable")
            where = (f"{size(extents)} of free extents (DATA_FREE; the pages emptied inside its indexes are not "
                     f"counted: {why})")
        elif pages:
            where = (f"{size(extents)} of free extents (DATA_FREE) and {size(pages)} of index pages that hold no "
                     "row (innodb_index_stats size - n_leaf_pages, past InnoDB's reserve)")
        else:
            where = f"{size(extents)} of free extents (DATA_FREE)"
        yield Hit(
            object=_table_ref(t),
            message=f"about {size(free)} of its {size(whole)} tablespace ({pct(share)}) holds no row: {where}; "
                    "space that deletes left behind and the file still holds",
            details={"free_bytes": free, "data_free": extents, "index_free_bytes": s.index_free_bytes,
                     "data_bytes": t.table_bytes, "index_bytes": t.index_bytes, "free_pct": round(share, 1)},
            remediation="-- InnoDB rebuilds the table (ALTER TABLE ... FORCE), online; it needs free disk for a "
                        "copy of the table\n"
                        f"OPTIMIZE TABLE {mysql_qualified(t.schema, t.name)};",
        )
