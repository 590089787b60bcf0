"""Maintenance checks (MT01, MT02, MT06-MT08) on small snapshots: each fires, stays silent on its look-alike,
and has its edge. The real-server proofs are in tests/test_table_maintenance_pg.py and _mysql.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from auditor.engine import iter_hits, load_checks, unmet_precondition
from auditor.maintenance import (
    DatabaseFreeze,
    IndexBloat,
    InnodbTableStats,
    Maintenance,
    TableBloat,
    TableFreeze,
    index_free_pages,
    segment_reserve_pages,
)
from auditor.model import Column, Hit, Note, Severity, Snapshot, Table, TableStats
from auditor.operations import Activity, Backend
from auditor.scoring import Metric, compute_metrics
from checks.table_maintenance import (
    AutovacuumDisabledOptions,
    DeadTuplesOptions,
    MultixactWraparoundOptions,
    StaleStatisticsOptions,
    TableBloatOptions,
    TableFragmentationOptions,
    XidWraparoundOptions,
)
from tests.builders import NOW, pg_settings, posture, snap

SPECS = load_checks()


def hits(code: str, s: Snapshot, opts: object = None) -> list[Hit]:
    spec = SPECS[code]
    assert unmet_precondition(spec, s) is None, unmet_precondition(spec, s)
    return list(iter_hits(spec, s, opts))


def labels(found: list[Hit]) -> list[str]:
    return [h.object.label() for h in found]


def tbl(name: str, rows: int = 100_000, columns: tuple[Column, ...] | None = None, kind: str = "table",
        total_bytes: int | None = 50 * 1024**2, **stats: object) -> Table:
    cols = columns if columns is not None else (Column("id", "bigint", null_frac=0.0, n_distinct=-1.0),)
    return Table("public", name, kind=kind, estimated_rows=rows, total_bytes=total_bytes, columns=cols,
                 stats=TableStats(**stats))  # type: ignore[arg-type]


def fr(name: str, xid: int | None = 1000, mxid: int | None = 10, toast_xid: int | None = None,
       toast_mxid: int | None = None, kind: str = "table", options: tuple[str, ...] = (),
       toast_options: tuple[str, ...] = ()) -> TableFreeze:
    return TableFreeze("public", name, kind=kind, xid_age=xid, mxid_age=mxid, toast_xid_age=toast_xid,
                       toast_mxid_age=toast_mxid, reloptions=options, toast_reloptions=toast_options)


def pg(*tables: Table, freeze: tuple[TableFreeze, ...] = (), databases: tuple[DatabaseFreeze, ...] = (),
       **extra: object) -> Snapshot:
    return snap(*tables, posture=posture(), maintenance=Maintenance(freeze=freeze, databases=databases),
                **extra)


# ---- MT01 / MT02 ---------------------------------------------------------------------------------------------


def test_mt01_fires_past_the_factor_and_the_sawtooth_below_it_is_silent() -> None:
    limit = int(1.5 * 200_000_000)
    s = pg(freeze=(fr("old", xid=limit + 1), fr("edge", xid=limit), fr("young", xid=199_000_000),
                   fr("parent", xid=None, mxid=None, kind="partitioned")),
           databases=(DatabaseFreeze("test", limit + 1, 5),))
    found = hits("MT01", s)
    assert labels(found) == ["public.old"]  # the audited database is explained by the table
    assert found[0].severity is None and found[0].details["remaining"] == 2**31 - limit - 1
    assert found[0].remediation is not None and "VACUUM (FREEZE, VERBOSE) public.old;" in found[0].remediation


def test_mt01_toast_age_counts_and_the_failsafe_age_is_an_error() -> None:
    (h,) = hits("MT01", pg(freeze=(fr("docs", xid=100, toast_xid=1_700_000_000),)))
    assert h.severity is Severity.ERROR and "TOAST" in h.message and h.details["part"] == "TOAST table"


def test_mt01_lowered_factor_and_other_databases() -> None:
    s = pg(freeze=(fr("t", xid=30),), databases=(DatabaseFreeze("test", 30, 0), DatabaseFreeze("other", 50, 0)))
    opts = XidWraparoundOptions(max_age_factor=20 / 200_000_000)
    assert labels(hits("MT01", s, opts)) == ["public.t", "other"]
    # the audited database alone, when no audited table explains it (a catalog or another schema)
    s2 = pg(freeze=(fr("t", xid=10),), databases=(DatabaseFreeze("test", 30, 0),))
    assert labels(hits("MT01", s2, opts)) == ["test"]


def test_mt02_uses_the_multixact_ages_and_their_setting() -> None:
    limit = int(1.5 * 400_000_000)
    s = pg(freeze=(fr("locked", xid=5, mxid=limit + 1), fr("fine", xid=5, mxid=limit)))
    assert labels(hits("MT02", s)) == ["public.locked"]
    assert hits("MT01", s) == []
    lowered = MultixactWraparoundOptions(max_age_factor=10 / 400_000_000)
    assert labels(hits("MT02", pg(freeze=(fr("a", mxid=11), fr("b", mxid=10))), lowered)) == ["public.a"]


def test_mt01_skipped_without_the_freeze_part() -> None:
    s = snap(posture=posture(), notes=(Note(area="freeze", message="refused", enable="GRANT x"),))
    unmet = unmet_precondition(SPECS["MT01"], s)
    assert unmet is not None and unmet.enable == "GRANT x"


# ---- MT06 ----------------------------------------------------------------------------------------------------


def test_mt06_dead_rows_past_the_trigger_and_the_share() -> None:
    # trigger: 50 + 0.2 x 100,000 = 20,050
    s = pg(tbl("purged", n_dead_tup=80_000, n_live_tup=20_000),
           tbl("edge", n_dead_tup=20_050, n_live_tup=100_000),
           tbl("vacuumed", n_dead_tup=12, n_live_tup=20_000, last_vacuum=NOW - timedelta(minutes=5)),
           tbl("small", rows=5_000, n_dead_tup=9_000, n_live_tup=1_000))
    found = hits("MT06", s)
    assert labels(found) == ["public.purged"]
    assert found[0].remediation == "VACUUM (VERBOSE, ANALYZE) public.purged;"
    assert "never vacuumed" in found[0].message
    assert labels(hits("MT06", s, DeadTuplesOptions(min_dead_rows=5_000))) == ["public.purged", "public.small"]


def test_mt06_table_scale_factor_and_share() -> None:
    # a tiny per-table scale factor puts the trigger at 1,050: 15,000 dead rows are past it but only 13 %
    t = tbl("tuned", n_dead_tup=15_000, n_live_tup=100_000)
    s = pg(t, freeze=(fr("tuned", options=("autovacuum_vacuum_scale_factor=0.01",)),))
    (h,) = hits("MT06", s)
    assert h.details["trigger"] == 1050
    assert hits("MT06", s, DeadTuplesOptions(min_dead_pct=20)) == []


def test_mt06_recent_vacuum_points_at_the_horizon_and_a_running_autovacuum_is_info() -> None:
    t = tbl("held", n_dead_tup=80_000, n_live_tup=20_000, last_autovacuum=NOW - timedelta(minutes=3))
    (h,) = hits("MT06", pg(t))
    assert "something holds vacuum's horizon back (a long or idle transaction" in h.message
    assert "MT03" not in h.message  # no holder in the snapshot: no MT03 finding to cite (rt16)
    worker = Backend(pid=7, backend_type="autovacuum worker", statement="autovacuum: VACUUM public.held")
    (h,) = hits("MT06", pg(t, activity=Activity(backends=(worker,))))
    assert h.severity is Severity.INFO and h.details["autovacuum_running"] is True


def test_mt06_a_held_horizon_names_the_holder_instead_of_offering_a_vacuum_alone() -> None:
    t = tbl("events", n_dead_tup=400_000, n_live_tup=100_000, last_vacuum=NOW - timedelta(minutes=3))
    idle = Backend(pid=4242, user="report", database="test", backend_type="client backend",
                   state="idle in transaction", xact_start=NOW - timedelta(hours=2), xmin_age=1_500_000)
    elsewhere = Backend(pid=77, user="etl", database="other", backend_type="client backend",
                        state="idle in transaction", xact_start=NOW - timedelta(hours=3), xmin_age=2_000_000)
    (h,) = hits("MT06", pg(t, activity=Activity(backends=(idle, elsewhere))))
    assert ("no VACUUM can remove them while session 4242 of report (idle in transaction, transaction open since "
            "2026-11-24 19:00 UTC) holds vacuum's xmin horizon 1,500,000 transactions back (MT03)") in h.message
    fix = h.remediation or ""
    assert fix.startswith("-- VACUUM cannot remove these rows while vacuum's horizon is held (MT03)")
    assert fix.index("SELECT pg_terminate_backend(4242);") < fix.index("VACUUM (VERBOSE, ANALYZE) public.events;")
    assert h.details["horizon_held_by"] == [
        "session 4242 of report (idle in transaction, transaction open since 2026-11-24 19:00 UTC)"]
    # another database's session holds nothing here, and a young snapshot opened after the last vacuum neither
    young = replace(idle, xmin_age=50, xact_start=NOW - timedelta(minutes=1))
    for backends in ((elsewhere,), (young,)):
        (h,) = hits("MT06", pg(t, activity=Activity(backends=backends)))
        assert h.remediation == "VACUUM (VERBOSE, ANALYZE) public.events;" and h.details["horizon_held_by"] == []
    # a young one that was already open when the last vacuum ran: that vacuum left the rows because of it
    before = replace(young, xact_start=NOW - timedelta(minutes=10))
    (h,) = hits("MT06", pg(t, activity=Activity(backends=(before,))))
    assert "holds vacuum's xmin horizon back: the vacuum of" in h.message
    # younger than MT03's max_xmin_age: MT03 reports nothing, so neither message nor fix cites it (rt16)
    assert "MT03" not in h.message and "MT03" not in (h.remediation or "")
    # the option lowers the age at which a holder is named (tests never wait for a million transactions)
    (h,) = hits("MT06", pg(t, activity=Activity(backends=(young,))), DeadTuplesOptions(holder_min_xmin_age=10))
    assert "session 4242" in h.message


def test_mt06_share_is_dead_among_live_and_dead() -> None:
    # pgstattuple's dead_tuple_count / (tuple_count + dead_tuple_count): every row updated once is 50 %
    (h,) = hits("MT06", pg(tbl("updated", n_dead_tup=100_000, n_live_tup=100_000)))
    assert h.details["dead_pct"] == 50.0 and "50.0 % of its live and dead rows" in h.message


# ---- MT07 ----------------------------------------------------------------------------------------------------


def test_mt07_disabled_with_churn_or_size_and_toast() -> None:
    s = pg(tbl("busy", total_bytes=1024**2, n_tup_ins=5_000),
           tbl("toasty", total_bytes=100 * 1024**2),
           tbl("tiny", total_bytes=8192, n_tup_ins=10),
           tbl("tuned", n_tup_ins=50_000),
           freeze=(fr("busy", options=("autovacuum_enabled=false",)),
                   fr("toasty", toast_options=("autovacuum_enabled=off",)),
                   fr("tiny", options=("autovacuum_enabled=false",)),
                   fr("tuned", options=("autovacuum_vacuum_scale_factor=0.01", "autovacuum_enabled=true"))))
    found = {h.object.label(): h for h in hits("MT07", s)}
    assert set(found) == {"public.busy", "public.toasty"}
    assert found["public.busy"].remediation == "ALTER TABLE public.busy RESET (autovacuum_enabled);"
    assert found["public.toasty"].remediation == "ALTER TABLE public.toasty RESET (toast.autovacuum_enabled);"
    # TOAST only: the heap is still vacuumed and analyzed, the wording says so
    assert "neither vacuums nor analyzes" in found["public.busy"].message
    assert "neither vacuums nor analyzes" not in found["public.toasty"].message
    assert "skips the table's TOAST table" in found["public.toasty"].message
    assert "still vacuumed and analyzed" in found["public.toasty"].message
    edge = AutovacuumDisabledOptions(min_changes=5_001, min_bytes=2 * 1024**2)
    assert set(labels(hits("MT07", s, edge))) == {"public.toasty"}


# ---- MT08 ----------------------------------------------------------------------------------------------------

NO_STATS = (Column("id", "bigint"), Column("note", "text"))


def test_mt08_never_analyzed_with_rows() -> None:
    s = pg(tbl("loaded", rows=-1, columns=NO_STATS, n_live_tup=50_000, n_mod_since_analyze=50_000),
           tbl("analyzed", n_live_tup=50_000, n_mod_since_analyze=0, last_analyze=NOW),
           tbl("empty", rows=0, columns=NO_STATS, n_live_tup=0),
           tbl("small", rows=-1, columns=NO_STATS, n_live_tup=999, n_mod_since_analyze=999))
    found = hits("MT08", s)
    assert labels(found) == ["public.loaded"] and "never analyzed" in found[0].message
    assert found[0].remediation == "ANALYZE public.loaded;"


def test_mt08_hidden_tables_are_not_judged() -> None:
    hidden = Note(area="privileges", message="cannot read", objects=("public.loaded",))
    s = pg(tbl("loaded", rows=-1, columns=NO_STATS, n_live_tup=50_000), notes=(hidden,))
    assert hits("MT08", s) == []


def test_mt08_modifications_edge() -> None:
    # analyze trigger: 50 + 0.1 x 100,000 = 10,050; twice that is 20,100
    s = pg(tbl("stale", n_mod_since_analyze=20_101, last_autoanalyze=NOW - timedelta(days=3)),
           tbl("edge", n_mod_since_analyze=20_100))
    assert labels(hits("MT08", s)) == ["public.stale"]
    assert labels(hits("MT08", s, StaleStatisticsOptions(trigger_factor=1.0))) == ["public.stale", "public.edge"]


def test_mt08_partitioned_parents_are_not_judged() -> None:
    s = pg(tbl("parent", kind="partitioned", rows=-1, columns=NO_STATS, n_live_tup=0, n_mod_since_analyze=0))
    assert hits("MT08", s) == []


def test_mt08_mysql_modified_counter() -> None:
    tables = (replace(tbl("orders", rows=100_000), engine="InnoDB"), replace(tbl("fine", rows=100_000),
                                                                              engine="InnoDB"))
    m = Maintenance(innodb=(InnodbTableStats("public", "orders", stats_rows=100_000, modified=20_001,
                                             auto_recalc=False),
                            InnodbTableStats("public", "fine", stats_rows=100_000, modified=20_000)),
                    innodb_counters=True)
    s = snap(*tables, engine="mysql", posture=posture(settings=None, status={}), maintenance=m)
    found = hits("MT08", s)
    assert labels(found) == ["public.orders"] and "STATS_AUTO_RECALC=0" in found[0].message
    assert found[0].remediation == "ANALYZE TABLE `public`.`orders`;"


# ---- MT09 / MT10 ---------------------------------------------------------------------------------------------

MIB = 1024**2


def _bloat_snap(*tables: Table, heap: tuple[TableBloat, ...] = (), btree: tuple[IndexBloat, ...] = (),
                **extra: object) -> Snapshot:
    return snap(*tables, posture=posture(), maintenance=Maintenance(table_bloat=heap, index_bloat=btree), **extra)


def test_mt09_share_and_size_edges_and_unusable_estimates() -> None:
    # 25,600 pages of 8 kB = 200 MiB; 30 % of it = 60 MiB
    s = _bloat_snap(tbl("events"), tbl("edge"), tbl("unusable"), tbl("stale", n_mod_since_analyze=80_000),
                    heap=(TableBloat("public", "events", pages=25_600, expected_pages=6_400),
                          TableBloat("public", "edge", pages=25_600, expected_pages=17_920),
                          TableBloat("public", "unusable", pages=25_600, estimable=False, reason="no stats"),
                          TableBloat("public", "stale", pages=25_600, expected_pages=1_000)))
    found = hits("MT09", s)
    assert labels(found) == ["public.events"] and found[0].details["bloat_pct"] == 75.0
    assert "VACUUM (FULL, VERBOSE, ANALYZE) public.events;" in (found[0].remediation or "")
    assert "ACCESS EXCLUSIVE" in (found[0].remediation or "")
    assert labels(hits("MT09", s, TableBloatOptions(min_bloat_pct=30.0, min_bloat_bytes=60 * MIB))) == \
        ["public.events", "public.edge"]


def test_mt09_dead_rows_are_not_bloat_measured_or_estimated() -> None:
    # 80 % of the rows deleted and a snapshot still needing them: pgstattuple_approx counts them dead, the page
    # has no free space; VACUUM FULL would copy them all under an exclusive lock
    held = TableBloat("public", "held", pages=25_600, expected_pages=5_120, exact_free_pct=0.5,
                      exact_dead_pct=76.6)
    assert hits("MT09", _bloat_snap(tbl("held"), heap=(held,))) == []
    # the estimate: 100,000 live rows need 5,120 pages, the 400,000 dead ones fill the rest
    deleted = tbl("deleted", rows=100_000, n_live_tup=100_000, n_dead_tup=400_000)
    estimated = TableBloat("public", "deleted", pages=25_600, expected_pages=5_120)
    assert hits("MT09", _bloat_snap(deleted, heap=(estimated,))) == []
    # once vacuumed, the same pages are free space that only a rewrite gives back
    vacuumed = replace(deleted, stats=replace(deleted.stats, n_dead_tup=0))
    (h,) = hits("MT09", _bloat_snap(vacuumed, heap=(estimated,)))
    assert h.details["bloat_pct"] == 80.0 and "VACUUM (FULL" in (h.remediation or "")


def test_mt09_skipped_when_every_table_is_hidden() -> None:
    hidden = TableBloat("public", "events", pages=100, estimable=False,
                        reason="the audit role may not read the table, so pg_stats hides its columns")
    note = Note(area="privileges", message="cannot read", objects=("public.events",), enable="GRANT SELECT x")
    unmet = unmet_precondition(SPECS["MT09"], _bloat_snap(tbl("events"), heap=(hidden,), notes=(note,)))
    assert unmet is not None and unmet.enable == "GRANT SELECT x"


def test_mt10_reindex_concurrently_and_estimate_guards() -> None:
    s = _bloat_snap(tbl("events"),
                    btree=(IndexBloat("public", "events", "events_at_idx", pages=25_600, expected_pages=5_000),
                           IndexBloat("public", "events", "events_open_idx", pages=25_600, estimable=False,
                                      reason="a partial index"),
                           IndexBloat("public", "events", "events_kind_idx", pages=2_000, expected_pages=6_000,
                                      deduplicated=True)))
    (h,) = hits("MT10", s)
    assert h.object.label() == "public.events_at_idx"
    assert h.remediation == "REINDEX INDEX CONCURRENTLY public.events_at_idx;"
    assert s.maintenance is not None
    older = _bloat_snap(tbl("events"), btree=s.maintenance.index_bloat or (), server_version_num=110000)
    assert "before PostgreSQL 12" in (hits("MT10", older)[0].remediation or "")


# ---- MT11 ----------------------------------------------------------------------------------------------------


def _frag(*stats: InnodbTableStats, counters: bool = True) -> Snapshot:
    tables = [replace(tbl(s.table), engine="InnoDB", table_bytes=200 * MIB, index_bytes=50 * MIB) for s in stats]
    return snap(*tables, engine="mysql", posture=posture(settings=None, status={}),
                maintenance=Maintenance(innodb=stats, innodb_counters=counters))


def test_mt11_free_space_share_and_floor_and_shared_tablespaces() -> None:
    s = _frag(InnodbTableStats("public", "purged", data_free=300 * MIB, shared_tablespace=False),
              # 28 MiB of 250 + 28: 10.07 %, MySQLTuner's denominator (data + indexes + DATA_FREE)
              InnodbTableStats("public", "edge", data_free=28 * MIB, shared_tablespace=False),
              InnodbTableStats("public", "below", data_free=27 * MIB, shared_tablespace=False),
              InnodbTableStats("public", "small", data_free=99 * MIB, shared_tablespace=False),
              InnodbTableStats("public", "in_system", data_free=900 * MIB, shared_tablespace=True),
              InnodbTableStats("public", "unopened", data_free=900 * MIB, shared_tablespace=None))
    found = hits("MT11", s)
    assert labels(found) == ["public.purged"] and found[0].details["free_pct"] == 54.5
    assert (found[0].remediation or "").endswith("OPTIMIZE TABLE `public`.`purged`;")
    low = TableFragmentationOptions(min_free_pct=10.0, min_free_bytes=25 * MIB)
    assert labels(hits("MT11", s, low)) == ["public.purged", "public.edge", "public.small"]


def test_mt11_counts_the_pages_emptied_inside_the_indexes() -> None:
    s = _frag(InnodbTableStats("public", "thinned", data_free=5 * MIB, shared_tablespace=False,
                               index_free_bytes=120 * MIB),
              # the same DATA_FREE without innodb_index_stats: 2 %, nothing to report
              InnodbTableStats("public", "unknown", data_free=5 * MIB, shared_tablespace=False),
              # pages within InnoDB's reserve are left out by the connector: 0 here
              InnodbTableStats("public", "loaded", data_free=5 * MIB, shared_tablespace=False, index_free_bytes=0))
    found = hits("MT11", s)
    assert labels(found) == ["public.thinned"]
    assert found[0].details["free_bytes"] == 125 * MIB and found[0].details["free_pct"] == 49.0
    assert "120 MB of index pages that hold no row" in found[0].message


def test_mt11_reserve_of_an_index_segment() -> None:
    # 1/8 of the index plus the extent being filled (64 pages of 16 KiB, 256 of 4 KiB)
    assert segment_reserve_pages(800, 16384) == 164 and segment_reserve_pages(800, 4096) == 356
    assert index_free_pages(3080, 610, 16384) == 3080 - 610 - 385 - 64
    assert index_free_pages(801, 681, 16384) == 0  # just rebuilt by OPTIMIZE TABLE (measured on MariaDB 10.11)


def test_mt11_skipped_without_process() -> None:
    note = Note(area="innodb_stats", message="not read", enable="GRANT PROCESS ON *.* TO 'a'@'%'")
    s = _frag(InnodbTableStats("public", "purged", data_free=300 * MIB), counters=False)
    s = replace(s, notes=(note,))
    unmet = unmet_precondition(SPECS["MT11"], s)
    assert unmet is not None and unmet.enable == "GRANT PROCESS ON *.* TO 'a'@'%'"


# ---- metrics: xid_headroom_pct, vacuumed_on_time_pct -----------------------------------------------------------


def _metric(s: Snapshot, key: str) -> Metric:
    return next(m for m in compute_metrics(s, []) if m.key == key)


def test_xid_headroom_is_the_oldest_database_and_the_lower_of_xids_and_multixacts() -> None:
    s = pg(databases=(DatabaseFreeze("test", 200_000_000, 10), DatabaseFreeze("old", 1_300_000_000, 5),
                      DatabaseFreeze("locks", 1_000, 1_200_000_000)))
    m = _metric(s, "xid_headroom_pct")
    assert m.value == round(100 * (2**31 - 1_300_000_000) / 2**31, 2) == 39.46
    assert m.passed is False and m.target == ">= 40 %"
    assert [p.label for p in m.parts] == ["transaction ids", "multixacts"] and "old" in m.parts[0].detail
    healthy = _metric(pg(databases=(DatabaseFreeze("test", 200_000_000, 10),)), "xid_headroom_pct")
    assert healthy.passed is True and healthy.value == 90.69
    assert _metric(pg(), "xid_headroom_pct").value is None  # not read
    mysql_snap = snap(engine="mysql", posture=posture(settings=None, status={}))
    assert "do not wrap around" in (_metric(mysql_snap, "xid_headroom_pct").reason or "")


def test_vacuumed_on_time_counts_tables_late_for_vacuum_or_analyze() -> None:
    s = pg(tbl("purged", n_dead_tup=80_000, n_live_tup=20_000),
           tbl("stale", n_mod_since_analyze=50_000, n_live_tup=100_000),
           *(tbl(f"ok{i}", n_live_tup=100_000, n_mod_since_analyze=10, n_dead_tup=5) for i in range(18)),
           tbl("empty", rows=0, n_live_tup=0, n_dead_tup=0))
    m = _metric(s, "vacuumed_on_time_pct")
    assert m.value == 90.0 and m.passed is False
    assert [p.value for p in m.parts] == [95.0, 95.0]
    assert _metric(pg(*(tbl(f"ok{i}", n_live_tup=10) for i in range(3))), "vacuumed_on_time_pct").value == 100.0


def test_vacuumed_on_time_on_innodb_needs_the_counters() -> None:
    tables = tuple(replace(tbl(f"t{i}"), engine="InnoDB") for i in range(4))
    stats = (InnodbTableStats("public", "t0", stats_rows=100_000, modified=30_000),
             InnodbTableStats("public", "t1", stats_rows=100_000, modified=10),
             InnodbTableStats("public", "t2", stats_rows=100_000, modified=0))
    s = snap(*tables, engine="mysql", posture=posture(settings=None, status={}),
             maintenance=Maintenance(innodb=stats, innodb_counters=True))
    m = _metric(s, "vacuumed_on_time_pct")
    assert m.value == 66.7 and m.passed is False
    assert m.measured == "3 of 4 InnoDB tables (not judged: the others were not opened since the server started)"
    # all 3 with counters on time: t3 may or may not be, so 75-100 % of 4 neither meets nor misses 95 %
    fresh = replace(s, maintenance=Maintenance(innodb=stats[1:] + (InnodbTableStats("public", "t3", stats_rows=10,
                                                                                    modified=0),),
                                               innodb_counters=True))
    partial = _metric(fresh, "vacuumed_on_time_pct")
    assert partial.value == 100.0 and partial.passed is None and partial.status == "partial"
    blind = replace(s, maintenance=Maintenance(innodb=stats, innodb_counters=False),
                    notes=(Note(area="innodb_stats", message="needs PROCESS", enable="GRANT PROCESS"),))
    assert _metric(blind, "vacuumed_on_time_pct").reason == "needs PROCESS"


def test_mt09_mt10_prefer_pgstattuple_figures_and_respect_the_fillfactor() -> None:
    s = _bloat_snap(tbl("measured", n_mod_since_analyze=90_000), tbl("packed"),
                    heap=(TableBloat("public", "measured", pages=25_600, estimable=False, reason="stale",
                                     exact_free_pct=60.0, exact_dead_pct=5.0),
                          TableBloat("public", "packed", pages=25_600, expected_pages=25_000, fillfactor=70,
                                     exact_free_pct=31.0, exact_dead_pct=0.0)),
                    btree=(IndexBloat("public", "measured", "measured_pkey", pages=25_600, estimable=False,
                                      reason="a partial index", exact_leaf_density=45.0),
                           IndexBloat("public", "packed", "packed_pkey", pages=25_600, expected_pages=1,
                                      exact_leaf_density=89.0)))
    (heap,) = hits("MT09", s)
    # free space only: the 5 % dead rows are MT06's (VACUUM), not a reason to rewrite the table
    assert heap.object.label() == "public.measured" and heap.details["bloat_pct"] == 60.0
    assert heap.details["dead_pct"] == 5.0 and "5.0 % of its row versions are dead rows" in heap.message
    assert heap.details["method"] == "pgstattuple"
    (btree,) = hits("MT10", s)  # the exact density wins over an estimate that says 100 %
    assert btree.object.label() == "public.measured_pkey" and btree.details["bloat_pct"] == 50.0


def test_mt08_busy_tables_analyzed_recently_and_tiny_hot_tables_are_silent() -> None:
    # 50,000 modifications against a trigger of 10,050: autovacuum analyzed it 10 minutes ago, it keeps up
    recent = tbl("busy", n_mod_since_analyze=50_000, last_autoanalyze=NOW - timedelta(minutes=10))
    # pgbench_branches: 10 rows updated 20,000 times
    tiny = tbl("branches", rows=10, n_live_tup=10, n_mod_since_analyze=20_000,
               last_autoanalyze=NOW - timedelta(days=1))
    s = pg(recent, tiny)
    assert hits("MT08", s) == []
    assert labels(hits("MT08", s, StaleStatisticsOptions(min_stale_minutes=5))) == ["public.busy"]


def test_mt08_recent_analyze_does_not_excuse_a_table_autovacuum_may_not_analyze() -> None:
    t = tbl("events", n_mod_since_analyze=240_000, last_analyze=NOW - timedelta(minutes=2))
    assert hits("MT08", pg(t, freeze=(fr("events"),))) == []
    off = pg(t, freeze=(fr("events", options=("autovacuum_enabled=false",)),))
    assert labels(hits("MT08", off)) == ["public.events"]
    server_off = snap(t, posture=posture(settings=pg_settings(autovacuum="off")),
                      maintenance=Maintenance(freeze=(), databases=()))
    assert labels(hits("MT08", server_off)) == ["public.events"]


def test_mysql8_reads_innodb_tablestats_on_recorded_rows() -> None:
    """No MySQL 8 server here: the connector's MySQL 8 path, fed rows as INNODB_TABLESTATS returns them."""
    from auditor.connectors.mysql.maintenance import collect_maintenance

    asked: list[str] = []

    def rows(area: str) -> list[dict[str, object]]:
        asked.append(area)
        # space_tables: the tables of every schema in that tablespace, counted by the server (general tablespaces)
        return [{"name": "shop/orders", "initialized": "Initialized", "num_rows": 100_000, "modified": 30_000,
                 "space": 12, "space_tables": 1},
                {"name": "shop/in@002dsystem", "initialized": "Initialized", "num_rows": 10, "modified": 0,
                 "space": 0, "space_tables": 40},
                # a general tablespace it shares with another schema's table, which the query does not send
                {"name": "shop/in_general", "initialized": "Initialized", "num_rows": 10, "modified": 0,
                 "space": 30, "space_tables": 2},
                {"name": "shop/alone_in_general", "initialized": "Initialized", "num_rows": 10, "modified": 0,
                 "space": 31, "space_tables": 1}]

    tables = [{"schema_name": "shop", "table_name": "orders", "data_free": 4_194_304,
               "create_options": "stats_auto_recalc=0"},
              {"schema_name": "shop", "table_name": "in-system", "data_free": 7_340_032, "create_options": ""},
              {"schema_name": "shop", "table_name": "in_general", "data_free": 7_340_032, "create_options": ""},
              {"schema_name": "shop", "table_name": "alone_in_general", "data_free": 0, "create_options": ""},
              {"schema_name": "shop", "table_name": "unopened", "data_free": 0, "create_options": ""}]
    notes: list[Note] = []
    m = collect_maintenance(tables, rows, "mysql", 80036, {"innodb_stats_auto_recalc": "ON"}, "'a'@'%'", notes)
    assert asked == ["innodb_tablestats.mysql8"] and notes == [] and m.innodb_counters
    by = {s.table: s for s in m.innodb or ()}
    assert by["orders"].auto_recalc is False and by["orders"].modified == 30_000
    assert by["orders"].shared_tablespace is False and by["in-system"].shared_tablespace is True
    assert by["in_general"].shared_tablespace is True and by["alone_in_general"].shared_tablespace is False
    assert by["unopened"].modified is None and by["unopened"].shared_tablespace is None
    assert collect_maintenance(tables, rows, "mysql", 50744, {}, "'a'@'%'", []).innodb_counters
    assert asked[-1] == "innodb_tablestats"
    assert collect_maintenance(tables, rows, "mariadb", 101106, {}, "'a'@'%'", []).innodb_counters
    assert asked[-1] == "innodb_tablestats.mariadb"
