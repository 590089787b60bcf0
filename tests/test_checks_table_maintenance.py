"""Maintenance checks (MT01, MT02, MT06-MT08) on small snapshots: each fires, stays silent on its look-alike,
and has its edge. The real-server proofs are in tests/test_table_maintenance_pg.py and _mysql.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from auditor.engine import iter_hits, load_checks, unmet_precondition
from auditor.maintenance import DatabaseFreeze, InnodbTableStats, Maintenance, TableFreeze
from auditor.model import Column, Hit, Note, Severity, Snapshot, Table, TableStats
from auditor.operations import Activity, Backend
from checks.table_maintenance import (
    AutovacuumDisabledOptions,
    DeadTuplesOptions,
    MultixactWraparoundOptions,
    StaleStatisticsOptions,
    XidWraparoundOptions,
)
from tests.builders import NOW, posture, snap

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
    assert "MT03" in h.message
    worker = Backend(pid=7, backend_type="autovacuum worker", statement="autovacuum: VACUUM public.held")
    (h,) = hits("MT06", pg(t, activity=Activity(backends=(worker,))))
    assert h.severity is Severity.INFO and h.details["autovacuum_running"] is True


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
                            InnodbTableStats("public", "fine", stats_rows=100_000, modified=20_000)))
    s = snap(*tables, engine="mysql", posture=posture(settings=None, status={}), maintenance=m)
    found = hits("MT08", s)
    assert labels(found) == ["public.orders"] and "STATS_AUTO_RECALC=0" in found[0].message
    assert found[0].remediation == "ANALYZE TABLE `public`.`orders`;"
