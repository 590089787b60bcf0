"""Settings checks on small snapshots: each fires, stays silent on its look-alike, and has its edge."""

from __future__ import annotations

from datetime import timedelta

from auditor.engine import iter_hits, load_checks, unmet_precondition
from auditor.model import Hit, Note, Severity, Snapshot, Table
from auditor.posture import (
    HBA_AREA,
    CheckpointStats,
    DatabaseStats,
    RelationIo,
    Role,
    RoleSetting,
)
from checks.settings import (
    AutovacuumSettingsOptions,
    CacheHitRatioOptions,
    CheckpointPressureOptions,
    ConnectionHeadroomOptions,
    MemorySettingsOptions,
)
from tests.builders import NOW, pg_settings, posture, snap, table

SPECS = load_checks()


def hits(code: str, s: Snapshot, opts: object = None) -> list[Hit]:
    spec = SPECS[code]
    assert unmet_precondition(spec, s) is None, unmet_precondition(spec, s)
    return list(iter_hits(spec, s, opts))


def labels(found: list[Hit]) -> list[str]:
    return [h.object.label() for h in found]


def mysql(settings: dict[str, str], status: dict[str, str] | None = None, tables: tuple[Table, ...] = (),
          **extra: object) -> Snapshot:
    return snap(*tables, engine="mysql", settings=settings, posture=posture(settings=None, status=status or {}),
                **extra)


# ---- ST01 ----------------------------------------------------------------------------------------------------


def test_st01_fsync_and_full_page_writes_off_are_errors() -> None:
    found = hits("ST01", snap(posture=posture(settings=pg_settings(fsync="off", full_page_writes="off"))))
    assert labels(found) == ["fsync", "full_page_writes"]
    assert all(h.severity is None for h in found)  # the check's default: error
    assert found[0].remediation == "ALTER SYSTEM SET fsync = on;\nSELECT pg_reload_conf();"


def test_st01_synchronous_commit_off_is_only_info_and_defaults_are_silent() -> None:
    (h,) = hits("ST01", snap(posture=posture(settings=pg_settings(synchronous_commit="off"))))
    assert h.severity is Severity.INFO and "legitimate choice" in h.message
    assert hits("ST01", snap(posture=posture())) == []


def test_st01_mysql_flush_and_binlog_and_doublewrite() -> None:
    s = mysql({"innodb_flush_log_at_trx_commit": "2", "log_bin": "ON", "sync_binlog": "0",
               "innodb_doublewrite": "OFF"})
    found = {h.object.setting: h for h in hits("ST01", s)}
    assert set(found) == {"innodb_flush_log_at_trx_commit", "sync_binlog", "innodb_doublewrite"}
    assert found["innodb_flush_log_at_trx_commit"].severity is Severity.WARNING
    assert "operating system crash" in found["innodb_flush_log_at_trx_commit"].message
    assert found["innodb_doublewrite"].severity is None  # error
    assert found["innodb_doublewrite"].remediation is not None and "restart" in found["innodb_doublewrite"].remediation


def test_st01_mysql_durable_settings_and_sync_binlog_without_binlog_are_silent() -> None:
    assert hits("ST01", mysql({"innodb_flush_log_at_trx_commit": "1", "log_bin": "ON", "sync_binlog": "1",
                               "innodb_doublewrite": "ON"})) == []
    assert hits("ST01", mysql({"innodb_flush_log_at_trx_commit": "1", "log_bin": "OFF", "sync_binlog": "0",
                               "innodb_doublewrite": "ON"})) == []


def test_st01_mysql8_persists_the_fix() -> None:
    s = mysql({"innodb_flush_log_at_trx_commit": "0"}, server_version_num=80036)
    (h,) = hits("ST01", s)
    assert h.remediation == "SET PERSIST innodb_flush_log_at_trx_commit = 1;"


# ---- ST02 ----------------------------------------------------------------------------------------------------


def test_st02_autovacuum_and_track_counts_off_are_errors() -> None:
    found = hits("ST02", snap(posture=posture(settings=pg_settings(autovacuum="off", track_counts="off"))))
    assert labels(found) == ["autovacuum", "track_counts"]
    assert {h.severity for h in found} == {Severity.ERROR}


def test_st02_pre_12_throttle_fires_and_the_12_default_is_silent() -> None:
    old = pg_settings(autovacuum_vacuum_cost_delay="20", vacuum_cost_page_miss="10")
    (h,) = hits("ST02", snap(posture=posture(settings=old)))
    assert h.details["read_mib_s"] == 7.81 and "shared by all its workers" in h.message
    # PostgreSQL 12/13: 2 ms delay, page miss 10 -> 78 MiB/s; 14+: page miss 2 -> 390 MiB/s
    assert hits("ST02", snap(posture=posture(settings=pg_settings(vacuum_cost_page_miss="10")))) == []
    assert hits("ST02", snap(posture=posture())) == []


def test_st02_tuned_values_and_the_edge() -> None:
    tuned = pg_settings(autovacuum_vacuum_cost_delay="10", autovacuum_vacuum_cost_limit="2000")
    assert hits("ST02", snap(posture=posture(settings=tuned))) == []
    # 200 / 10 per 20 ms = 1000 pages/s = 7.8125 MiB/s: the edge is inclusive of the option
    old = snap(posture=posture(settings=pg_settings(autovacuum_vacuum_cost_delay="20", vacuum_cost_page_miss="10")))
    assert hits("ST02", old, AutovacuumSettingsOptions(min_read_mib_s=7.8125)) == []
    assert len(hits("ST02", old, AutovacuumSettingsOptions(min_read_mib_s=7.9))) == 1
    # no delay at all: unthrottled
    assert hits("ST02", snap(posture=posture(settings=pg_settings(autovacuum_vacuum_cost_delay="0")))) == []


# ---- ST03 ----------------------------------------------------------------------------------------------------


def test_st03_default_shared_buffers_on_a_large_database_says_ram_is_unknown() -> None:
    s = snap(posture=posture(database_stats=DatabaseStats(size_bytes=20 * 1024**3)))
    (h,) = hits("ST03", s)
    assert "SQL cannot see the machine's memory" in h.message and h.details["ram"] == "unknown"
    assert h.remediation is not None and "takes effect after a server restart" in h.remediation


def test_st03_tuned_shared_buffers_and_small_database_are_silent_and_the_edge() -> None:
    big = DatabaseStats(size_bytes=20 * 1024**3)
    tuned = pg_settings(shared_buffers="524288")  # 4 GB
    assert hits("ST03", snap(posture=posture(settings=tuned, database_stats=big))) == []
    edge = DatabaseStats(size_bytes=10 * 128 * 1024**2)
    assert len(hits("ST03", snap(posture=posture(database_stats=edge)))) == 1
    below = DatabaseStats(size_bytes=10 * 128 * 1024**2 - 1)
    assert hits("ST03", snap(posture=posture(database_stats=below))) == []
    assert hits("ST03", snap(posture=posture(database_stats=big)), MemorySettingsOptions(size_factor=200)) == []


def test_st03_innodb_pool_far_smaller_than_data_with_misses() -> None:
    t = table("orders", rows=10_000_000)
    t = type(t)(**{**t.__dict__, "table_bytes": 3 * 1024**3, "index_bytes": 1024**3, "engine": "InnoDB"})
    misses = {"Innodb_buffer_pool_read_requests": "1000000", "Innodb_buffer_pool_reads": "50000"}
    s = mysql({"innodb_buffer_pool_size": str(128 * 1024**2)}, misses, tables=(t,), schemas=("shop",))
    (h,) = hits("ST03", s)
    assert "32 times" in h.message and "5.0 %" in h.message
    # the same pool with a hit ratio of 99.9 %: the working set fits, silent
    hot = {"Innodb_buffer_pool_read_requests": "1000000", "Innodb_buffer_pool_reads": "1000"}
    assert hits("ST03", mysql({"innodb_buffer_pool_size": str(128 * 1024**2)}, hot, tables=(t,))) == []
    # too few requests to judge
    few = {"Innodb_buffer_pool_read_requests": "99999", "Innodb_buffer_pool_reads": "50000"}
    assert hits("ST03", mysql({"innodb_buffer_pool_size": str(128 * 1024**2)}, few, tables=(t,))) == []


# ---- ST04 ----------------------------------------------------------------------------------------------------


def test_st04_mysql_peak_near_the_limit_and_refusals() -> None:
    s = mysql({"max_connections": "100"}, {"Max_used_connections": "85"})
    (h,) = hits("ST04", s)
    assert h.severity is None and "85 % of max_connections = 100" in h.message
    assert hits("ST04", mysql({"max_connections": "100"}, {"Max_used_connections": "84"})) == []
    refused = mysql({"max_connections": "100"}, {"Max_used_connections": "40",
                                                  "Connection_errors_max_connections": "3"})
    (h,) = hits("ST04", refused)
    assert h.severity is Severity.ERROR and "3 connection(s) were already refused" in h.message
    assert hits("ST04", s, ConnectionHeadroomOptions(max_used_pct=90)) == []
    # every slot taken, none refused yet: an error as documented (rt10b: 31 of 30 was a warning); 29 is not
    for peak, severity in (("30", Severity.ERROR), ("31", Severity.ERROR), ("29", None)):
        (h,) = hits("ST04", mysql({"max_connections": "30"}, {"Max_used_connections": peak}))
        assert h.severity is severity and ("every slot was taken" in h.message) is (severity is not None)


# ---- ST05 ----------------------------------------------------------------------------------------------------


def _roles(*names: str) -> tuple[Role, ...]:
    return tuple(Role(n, connect=True) for n in names) + (Role("postgres", superuser=True), Role("dbaudit"))


def test_st05_reports_application_roles_without_timeouts_only() -> None:
    s = snap(posture=posture(roles=_roles("app", "batch"), role_settings=()))
    found = hits("ST05", s)
    assert labels(found) == ["app", "batch"]  # not the superuser, not dbaudit's own role
    assert found[0].remediation == ("ALTER ROLE app SET statement_timeout = '60s';\n"
                                    "ALTER ROLE app SET idle_in_transaction_session_timeout = '10min';")


def test_st05_set_per_role_or_per_database_counts_as_set() -> None:
    role_settings = (
        RoleSetting("app", None, {"statement_timeout": "30s", "idle_in_transaction_session_timeout": "5min"}),
        RoleSetting(None, "test", {"idle_in_transaction_session_timeout": "1min"}),
        RoleSetting("batch", "test", {"statement_timeout": "1h"}),
    )
    s = snap(posture=posture(roles=_roles("app", "batch", "web"), role_settings=role_settings))
    found = {h.object.role: h.details["missing"] for h in hits("ST05", s)}
    assert found == {"web": ["statement_timeout"]}
    # a server-wide value counts too
    server = pg_settings(statement_timeout="30000", idle_in_transaction_session_timeout="60000")
    assert hits("ST05", snap(posture=posture(settings=server, roles=_roles("web"), role_settings=()))) == []


def test_st05_a_value_shadowed_by_the_audit_roles_own_setting_is_not_judged() -> None:
    shadow = (RoleSetting("dbaudit", None, {"statement_timeout": "5s"}),)
    s = snap(posture=posture(roles=_roles("web"), role_settings=shadow))
    (h,) = hits("ST05", s)
    assert h.details["missing"] == ["idle_in_transaction_session_timeout"]


# ---- ST06 ----------------------------------------------------------------------------------------------------


def _cp(timed: int, requested: int, age: timedelta = timedelta(days=7)) -> Snapshot:
    stats = CheckpointStats("pg_stat_bgwriter", timed=timed, requested=requested, stats_reset=NOW - age)
    return snap(posture=posture(checkpoints=stats))


def test_st06_requested_checkpoints_fire_and_name_max_wal_size() -> None:
    (h,) = hits("ST06", _cp(10, 30))
    assert "30 of the 40 checkpoints" in h.message and "max_wal_size = 1.0 GB" in h.message
    assert h.remediation == "ALTER SYSTEM SET max_wal_size = '2GB';\nSELECT pg_reload_conf();"


def test_st06_young_counters_and_the_share_edge() -> None:
    assert hits("ST06", _cp(2, 7)) == []  # 9 checkpoints: too few
    assert hits("ST06", _cp(10, 30, timedelta(hours=3))) == []  # counters 3 hours old
    assert hits("ST06", _cp(80, 20)) == []  # exactly 0.2: not above
    assert len(hits("ST06", _cp(79, 21))) == 1
    young = CheckpointPressureOptions(min_checkpoints=3, min_stats_age_hours=0)
    assert len(hits("ST06", _cp(0, 3, timedelta(minutes=5)), young)) == 1


# ---- ST07 ----------------------------------------------------------------------------------------------------


def test_st07_enable_off_globally_and_random_page_cost_default() -> None:
    found = hits("ST07", snap(posture=posture(settings=pg_settings(enable_nestloop="off"))))
    assert labels(found) == ["enable_nestloop", "random_page_cost"]
    assert found[0].severity is None and found[1].severity is Severity.INFO
    assert found[0].remediation == "ALTER SYSTEM SET enable_nestloop = on;\nSELECT pg_reload_conf();"


def test_st07_tuned_values_and_off_by_default_methods_are_silent() -> None:
    tuned = pg_settings(random_page_cost="1.1")
    assert hits("ST07", snap(posture=posture(settings=tuned))) == []  # enable_partitionwise_join is off too


# ---- ST08 ----------------------------------------------------------------------------------------------------


def _io(table_hits: int, table_reads: int, index_hits: int = 10**7, index_reads: int = 0) -> Snapshot:
    rows = (RelationIo("app", "events", None, table_reads, table_hits),
            RelationIo("app", "users", None, 0, 1000),
            RelationIo("app", "events", "events_pkey", index_reads, index_hits))
    return snap(posture=posture(io=rows))


def test_st08_low_table_ratio_names_the_table() -> None:
    (h,) = hits("ST08", _io(900_000, 100_000))
    assert h.details["kind"] == "table" and "app.events" in h.message and "90.0 %" in h.message


def test_st08_table_and_index_ratios_are_distinct_objects_for_the_baseline() -> None:
    from auditor.baseline import fingerprint
    from auditor.model import Finding

    found = hits("ST08", _io(900_000, 100_000, index_hits=900_000, index_reads=100_000))
    assert sorted(h.object.label() for h in found) == ["index cache", "table cache"]
    prints = {fingerprint(Finding("ST08", "cache-hit-ratio", Severity.WARNING, "settings", h.object, h.message))
              for h in found}
    assert len(prints) == 2


def test_st08_tiny_read_counts_and_the_target_edge() -> None:
    assert hits("ST08", _io(50, 50)) == []  # 100 requests
    # with users' 1,000 hits: 99,999 requests at 51 % stay silent, 100,000 fire
    assert hits("ST08", _io(50_000, 48_999)) == []
    assert len(hits("ST08", _io(50_000, 49_000))) == 1
    assert hits("ST08", _io(989_000, 10_000)) == []  # 990,000 of 1,000,000: exactly 99.0 %, on target
    assert len(hits("ST08", _io(990_000, 10_000), CacheHitRatioOptions(target_pct=99.5))) == 1


def test_st08_mysql_buffer_pool() -> None:
    s = mysql({}, {"Innodb_buffer_pool_read_requests": "1000000", "Innodb_buffer_pool_reads": "20000"})
    (h,) = hits("ST08", s)
    assert h.details["kind"] == "buffer pool" and h.details["hit_pct"] == 98.0


# ---- preconditions -------------------------------------------------------------------------------------------


def test_settings_checks_skip_when_the_area_was_not_read() -> None:
    s = snap(posture=posture(settings=None), notes=(Note(area="server_settings", message="refused",
                                                         enable="GRANT pg_read_all_settings TO a"),))
    unmet = unmet_precondition(SPECS["ST01"], s)
    assert unmet is not None and unmet.enable == "GRANT pg_read_all_settings TO a"
    older = snap()  # no posture at all: an older snapshot
    unmet = unmet_precondition(SPECS["ST07"], older)
    assert unmet is not None and "not collected" in unmet.reason
    assert HBA_AREA == "hba_rules"


def test_st07_a_planner_method_off_for_one_role() -> None:
    role_settings = (
        RoleSetting("app", None, {"enable_nestloop": "off", "statement_timeout": "30s"}),
        RoleSetting("etl", "blog", {"enable_seqscan": "off"}),
        RoleSetting("etl", "other", {"enable_hashjoin": "off"}),  # another database: not this audit's
        RoleSetting("bi", None, {"enable_partitionwise_join": "off", "enable_mergejoin": "on"}),  # defaults
        RoleSetting("dbaudit", None, {"enable_nestloop": "off"}),  # the session's own: read from pg_settings
        RoleSetting(None, "blog", {"enable_nestloop": "off"}),  # the database's: the session's value too
    )
    found = hits("ST07", snap(posture=posture(settings=pg_settings(random_page_cost="1.1"),
                                              role_settings=role_settings), database="blog"))
    assert [(h.object.label(), h.details["setting"]) for h in found] == [
        ("app", "enable_nestloop"), ("etl", "enable_seqscan")]
    assert "for every session of role app:" in found[0].message
    assert found[0].remediation.startswith("ALTER ROLE app RESET enable_nestloop;")
    assert found[1].remediation.startswith("ALTER ROLE etl IN DATABASE blog RESET enable_seqscan;")


def test_a_value_stored_for_the_database_is_fixed_there_not_with_alter_system() -> None:
    import dataclasses

    settings = tuple(dataclasses.replace(s, value="off", source="database") if s.name == "enable_nestloop" else s
                     for s in pg_settings(random_page_cost="1.1"))
    (h,) = hits("ST07", snap(posture=posture(settings=settings), database="blog"))
    assert "for every session in database blog" in h.message
    assert h.remediation == "ALTER DATABASE blog SET enable_nestloop = on;  -- new sessions get it"


def test_st04_postgresql_counts_client_connections_against_the_usable_slots() -> None:
    from auditor.operations import Activity, Backend
    from auditor.posture import ServerSetting

    settings = pg_settings() + (ServerSetting("superuser_reserved_connections", "3", boot_value="3"),)

    def activity(n: int) -> Activity:
        clients = tuple(Backend(pid=i, user="app" if i else "dbaudit", backend_type="client backend", is_self=not i)
                        for i in range(n))
        return Activity(backends=(*clients, Backend(pid=999, backend_type="autovacuum launcher")))

    # 100 - 3 reserved = 97 usable; 83 / 97 = 85.6 %
    (h,) = hits("ST04", snap(posture=posture(settings=settings), activity=activity(83)))
    assert "83 client connections are open of the 97" in h.message and "app 82" in h.message
    assert h.severity is None and h.remediation is not None and "restart" in h.remediation
    assert hits("ST04", snap(posture=posture(settings=settings), activity=activity(82))) == []  # 84.5 %
    (full,) = hits("ST04", snap(posture=posture(settings=settings), activity=activity(97)))
    assert full.severity is Severity.ERROR
    assert "all 97 slots that max_connections = 100 leaves to ordinary roles are taken (at" in full.message
    # superusers in the reserved slots: every slot and then some, never "103 %" (rt10b)
    (over,) = hits("ST04", snap(posture=posture(settings=settings), activity=activity(100)))
    assert over.severity is Severity.ERROR and "%" not in over.message
    assert "are taken, and 3 more of the 3 kept for superusers" in over.message


def test_percentages_read_alike_everywhere() -> None:
    """rt10b: "100.00 %" in one finding, "50.0 %" in the next; two decimals only where one would round up."""
    from checks._posture import pct

    assert [pct(v) for v in (50, 99.9, 99.96, 100)] == ["50.0 %", "99.9 %", "99.96 %", "100.0 %"]
