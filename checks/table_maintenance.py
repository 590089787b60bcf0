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
from auditor.maintenance import FREEZE_AREA, INDEX_BLOAT_AREA, INNODB_STATS_AREA, TABLE_BLOAT_AREA, TableFreeze
from auditor.model import Hit, ObjectRef, Severity, Snapshot, Table
from auditor.sqlquote import mysql_qualified, pg_qualified
from checks._posture import pct, requires_posture, size

FAMILY = "maintenance"
PG_ONLY_NA = {"mysql": "MySQL/MariaDB have no vacuum: InnoDB purges old row versions by itself"}

# Maintenance part -> the Note area its connector writes when it cannot read it
_AREA_OF = {"freeze": FREEZE_AREA, "databases": "database_freeze", "table_bloat": TABLE_BLOAT_AREA,
            "index_bloat": INDEX_BLOAT_AREA, "innodb": INNODB_STATS_AREA}
_WHAT = {"freeze": "the freeze ages and storage parameters of the tables (pg_class)",
         "databases": "the freeze ages of the databases (pg_database)",
         "table_bloat": "the heap size estimates (pg_stats)",
         "index_bloat": "the B-tree size estimates (pg_stats)",
         "innodb": "InnoDB's statistics counters (INNODB_SYS_TABLESTATS / INNODB_TABLESTATS)"}


def requires_maintenance(*, postgresql: tuple[str, ...] = (), mysql: tuple[str, ...] = ()) -> Precondition:
    """The maintenance parts a check reads, per engine; a missing one skips the check with its note's GRANT."""
    needed = {"postgresql": postgresql, "mysql": mysql}

    def pre(snap: Snapshot) -> Unmet | None:
        for part in needed.get(snap.engine, ()):
            if snap.maintenance is not None and getattr(snap.maintenance, part) is not None:
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


def _table_number(snap: Snapshot, freeze: TableFreeze | None, name: str) -> float | None:
    """A per-table storage parameter (``autovacuum_vacuum_scale_factor=0.01``) or else the server's setting."""
    if freeze is not None:
        raw = freeze.option(name)
        if raw is not None:
            try:
                value = float(raw)
            except ValueError:
                value = None
            if value is not None and value >= 0:  # -1: use the server's value
                return value
    return _setting_number(snap, name)


def _is_false(value: str | None) -> bool:
    return (value or "").strip().lower() in ("false", "off", "0", "no", "f", "n")


def _rows(t: Table) -> float:
    """The rows autovacuum's formulas scale with: reltuples (estimated_rows), else the live-row counter."""
    if t.estimated_rows is not None and t.estimated_rows >= 0:
        return float(t.estimated_rows)
    return float(t.stats.n_live_tup or 0)


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
       options=XidWraparoundOptions, category=FAMILY, not_applicable=PG_ONLY_NA,
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
       options=MultixactWraparoundOptions, category=FAMILY, not_applicable=PG_ONLY_NA,
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
    min_dead_pct: float = 10.0  # dead rows as a share of live + dead
    min_dead_rows: int = 10_000  # small tables are vacuumed in an instant whenever it happens


def vacuum_trigger(snap: Snapshot, t: Table) -> float | None:
    """Dead rows past which autovacuum vacuums the table: threshold + scale factor x reltuples, with the
    table's own storage parameters first (pg-extras `vacuum_stats`' expect_autovacuum)."""
    freeze = snap.maintenance.freeze_of(t.schema, t.name) if snap.maintenance is not None else None
    threshold = _table_number(snap, freeze, "autovacuum_vacuum_threshold")
    scale = _table_number(snap, freeze, "autovacuum_vacuum_scale_factor")
    if threshold is None or scale is None:
        return None
    return threshold + scale * _rows(t)


def analyze_trigger(snap: Snapshot, t: Table) -> float | None:
    """Modified rows past which autovacuum analyzes the table (threshold + scale factor x reltuples)."""
    freeze = snap.maintenance.freeze_of(t.schema, t.name) if snap.maintenance is not None else None
    threshold = _table_number(snap, freeze, "autovacuum_analyze_threshold")
    scale = _table_number(snap, freeze, "autovacuum_analyze_scale_factor")
    if threshold is None or scale is None:
        return None
    return threshold + scale * _rows(t)


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
    vacuumed after its purge has few dead rows left and is silent; so are small tables. When the dead rows
    outlived a recent vacuum, the finding says so: something holds vacuum's horizon (MT03). When an autovacuum
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

    ## Options
    - `min_dead_pct` (default 10): dead rows as a share of live and dead ones; pg-extras' `vacuum_stats` lists
      tables past their trigger (expect_autovacuum) whatever the share, PgHero's maintenance page shows the
      same counters; a share keeps tables with a tiny per-table scale factor out.
    - `min_dead_rows` (default 10,000): fewer dead rows are vacuumed in an instant whenever it happens.

    ## Known problems
    `n_dead_tup` is an estimate kept by the statistics system; it is reset with the statistics (after a crash,
    `pg_stat_reset()`), which can hide dead rows until the next vacuum counts them.

    ## References
    - https://www.postgresql.org/docs/current/routine-vacuuming.html#AUTOVACUUM
    - pg-extras `vacuum_stats`, PgHero maintenance, pganalyze VACUUM advisor ("dead rows")
    """
    for t in _heap_tables(snap):
        dead = t.stats.n_dead_tup
        live = t.stats.n_live_tup or 0
        if dead is None or dead < opts.min_dead_rows:
            continue
        share = 100.0 * dead / (dead + live) if dead + live else 0.0
        trigger = vacuum_trigger(snap, t)
        if trigger is None or dead <= trigger or share < opts.min_dead_pct:
            continue
        last = _last(t.stats.last_vacuum, t.stats.last_autovacuum)
        busy = _autovacuum_busy_with(snap, t)
        if busy:
            tail = "; an autovacuum worker is on it right now"
        elif last is None:
            tail = "; it was never vacuumed since the statistics were reset"
        else:
            tail = (f"; last vacuumed {_when(last)}: if that vacuum ran after the rows died, something holds "
                    "vacuum's horizon back (MT03)")
        yield Hit(
            object=_table_ref(t),
            message=f"{dead:,} dead rows ({pct(share)} of the table) against an autovacuum trigger of "
                    f"{trigger:,.0f}{tail}",
            details={"n_dead_tup": dead, "n_live_tup": live, "dead_pct": round(share, 1),
                     "trigger": round(trigger), "last_vacuum": _when(t.stats.last_vacuum),
                     "last_autovacuum": _when(t.stats.last_autovacuum), "autovacuum_running": busy},
            remediation=f"VACUUM (VERBOSE, ANALYZE) {pg_qualified(t.schema, t.name)};",
            severity=Severity.INFO if busy else None,
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
    (MT08), and only the emergency anti-wraparound vacuum still runs, late and unthrottled. The setting is
    usually left over from a bulk load.

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
    reported.

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
        if total >= opts.min_bytes:
            evidence.append(f"{size(total)}")
        if s.n_dead_tup:
            evidence.append(f"{s.n_dead_tup:,} dead rows now")
        yield Hit(
            object=_table_ref(t),
            message=f"{names}: autovacuum neither vacuums nor analyzes it although it changes or is large "
                    f"({', '.join(evidence)}); only the emergency anti-wraparound vacuum still runs",
            details={"reloptions": [f"{p}autovacuum_enabled=false" for p in off], "changes": changes,
                     "total_bytes": total, "n_dead_tup": s.n_dead_tup},
            remediation="\n".join(f"ALTER TABLE {pg_qualified(t.schema, t.name)} RESET ({p}autovacuum_enabled);"
                                  for p in off),
        )


# ------------------------------------------------------------------------------------------------------------
# MT08 stale-statistics
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaleStatisticsOptions:
    trigger_factor: float = 2.0  # modifications since the last analyze, as a multiple of the analyze trigger
    min_rows: int = 1_000  # smaller tables are planned well enough on any statistics


def _unreadable(snap: Snapshot) -> set[str]:
    return {o for n in snap.notes if n.area == "privileges" for o in n.objects}


@check(code="MT08", name="stale-statistics", severity=Severity.WARNING, engines=("postgresql", "mysql"),
       options=StaleStatisticsOptions, category=FAMILY,
       requires=(requires_posture(postgresql=("settings",)), requires_maintenance(mysql=("innodb",))),
       reads=("tables", "columns"))
def stale_statistics(snap: Snapshot, opts: StaleStatisticsOptions) -> Iterator[Hit]:
    """A table with rows that was never analyzed, or changed far past the point where it should have been.

    ## What it does
    PostgreSQL: flags a table with at least `min_rows` rows and no planner statistics at all (no column in
    pg_stats, never analyzed since the statistics were reset), and a table whose modifications since the last
    analyze (`n_mod_since_analyze`) exceed `trigger_factor` times its autovacuum analyze trigger
    (`autovacuum_analyze_threshold + autovacuum_analyze_scale_factor x reltuples`, the table's own storage
    parameters first). MySQL/MariaDB: flags an InnoDB table whose rows modified since its statistics were
    computed (`MODIFIED_COUNTER`) exceed `trigger_factor` times InnoDB's own recalculation point, 10 % of its
    rows. A table bulk-loaded and then analyzed has nothing modified since and is silent; so are small tables.

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
        analyzed = _last(s.last_analyze, s.last_autoanalyze)
        rows = max(_rows(t), float(s.n_live_tup or 0))
        # pg_stats hides the columns of a table the role may not read: no statistics proves nothing there
        has_stats = t.qualified in unreadable or any(c.null_frac is not None for c in t.columns)
        if not has_stats and analyzed is None and rows >= opts.min_rows and t.columns:
            yield Hit(
                object=_table_ref(t),
                message=f"about {rows:,.0f} rows and no planner statistics: the table was never analyzed, so "
                        "the planner guesses its row counts and value distributions",
                details={"rows": round(rows), "last_analyze": "never", "n_mod_since_analyze": s.n_mod_since_analyze},
                remediation=f"ANALYZE {pg_qualified(t.schema, t.name)};",
            )
            continue
        modified = s.n_mod_since_analyze
        trigger = analyze_trigger(snap, t)
        if modified is None or trigger is None or rows < opts.min_rows and modified < opts.min_rows:
            continue
        if modified <= opts.trigger_factor * trigger:
            continue
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
        if st is None or st.modified is None or st.stats_rows is None:
            continue
        rows = max(st.stats_rows, t.estimated_rows or 0)
        trigger = max(0.1 * st.stats_rows, 1.0)
        if st.modified < opts.min_rows or st.modified <= opts.trigger_factor * trigger:
            continue
        recalc = ("automatic recalculation is off for it (STATS_AUTO_RECALC=0 or innodb_stats_auto_recalc=OFF)"
                  if st.auto_recalc is False else "InnoDB's automatic recalculation has not caught up")
        yield Hit(
            object=_table_ref(t),
            message=f"{st.modified:,} rows modified since InnoDB last computed its statistics (on "
                    f"{st.stats_rows:,} rows), {st.modified / trigger:.1f} times its 10 % recalculation point: "
                    f"{recalc}",
            details={"modified": st.modified, "stats_rows": st.stats_rows, "rows": rows,
                     "auto_recalc": st.auto_recalc, "stats_updated": st.stats_updated,
                     "trigger_factor": opts.trigger_factor},
            remediation=f"ANALYZE TABLE {mysql_qualified(t.schema, t.name)};",
        )
