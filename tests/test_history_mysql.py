"""Run history on a real MariaDB: the interval between two scans holds exactly the workload run between them.

performance_schema keeps its digests per schema and statement, not per user: the history's user is "" there.
No MySQL 8 server here: its paths are the same tables (events_statements_summary_by_digest, Uptime).
"""

from __future__ import annotations

import re
from pathlib import Path

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.report import Report
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    mysql_server,
    new_db_on,
)

SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, v varchar(20) NOT NULL);
INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
CREATE TABLE loose (x int);
"""


def _scan(dsn: str, store: Path) -> Report:
    return run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False), history=str(store)))


def _run(server: MySqlServer, db: str, n: int) -> None:
    with server.connect(db) as conn, conn.cursor() as cur:
        for i in range(n):
            cur.execute("SELECT v FROM items WHERE id = %s", (i % 4 + 1,))
            cur.fetchall()


def test_two_mariadb_scans_report_exactly_the_workload_between(mysql_server: MySqlServer,  # noqa: F811
                                                                tmp_path: Path) -> None:
    db, dsn = new_db_on(mysql_server, SCHEMA)
    store = tmp_path / "runs.db"
    _run(mysql_server, db, 25)
    first = _scan(dsn, store)
    assert first.history is not None and first.history.previous_run is None
    _run(mysql_server, db, 41)
    second = _scan(dsn, store)
    h = second.history
    assert h is not None and h.previous_run is not None
    # MariaDB's digest text: SELECT `v` FROM `items` WHERE ID = ?
    lookups = [s for s in h.statements if re.search(r"from `items` where `?id`? = \?", s.query, re.I)]
    assert [(s.calls, s.user, s.reset) for s in lookups] == [(41, "", False)], [s.query for s in h.statements]
    assert lookups[0].fingerprint.startswith("my:") and lookups[0].mean_ms > 0
    assert not [r for r in h.resets if r.kind in ("restart", "counter_decrease")]
    assert all(s.calls > 0 for s in h.statements)


def _lookups(report: Report) -> list[tuple[int, bool]]:
    h = report.history
    assert h is not None
    return [(s.calls, s.reset) for s in h.statements if re.search(r"from `items` where `?id`? = \?", s.query, re.I)]


def test_a_truncated_digest_table_counts_from_the_truncate(mysql_server: MySqlServer,  # noqa: F811
                                                           tmp_path: Path) -> None:
    """TRUNCATE of events_statements_summary_by_digest between runs, then the statement runs past its old count:
    the entry's FIRST_SEEN is later than at the previous run, so all 30 calls are the interval's (rt11 item 3:
    reported 20); a global reset is said as one ("the statement digests were truncated"), and the statements
    not run since are not listed as vanished (rt11 item 10)."""
    db, dsn = new_db_on(mysql_server, SCHEMA)
    store = tmp_path / "runs.db"
    _scan(dsn, store)
    _run(mysql_server, db, 10)
    second = _scan(dsn, store)
    assert _lookups(second) == [(10, False)]
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE TABLE performance_schema.events_statements_summary_by_digest")
    _run(mysql_server, db, 30)
    third = _scan(dsn, store)
    h = third.history
    assert h is not None
    assert _lookups(third) == [(30, True)]
    kinds = [r.kind for r in h.resets]
    assert "digest_truncate" in kinds and "counter_decrease" not in kinds, h.resets
    assert "truncated" in next(r.message for r in h.resets if r.kind == "digest_truncate")
    assert h.vanished_statements == ()
    assert all(s.reset for s in h.statements)
    # the night after: counted normally again
    _run(mysql_server, db, 4)
    fourth = _scan(dsn, store)
    assert fourth.history is not None and _lookups(fourth) == [(4, False)]
    assert not [r for r in fourth.history.resets if r.kind in ("digest_truncate", "counter_decrease")]


INDEXED = """
CREATE TABLE orders (id int PRIMARY KEY, status int NOT NULL, customer int NOT NULL, note varchar(20),
                     KEY orders_status_idx (status), KEY orders_customer_idx (customer));
INSERT INTO orders SELECT seq, seq % 7, seq % 500, 'x' FROM seq_1_to_5000;
"""


def _reads(server: MySqlServer, db: str, index: str, n: int) -> None:
    with server.connect(db) as conn, conn.cursor() as cur:
        for i in range(n):
            column = "status" if index == "orders_status_idx" else "customer"
            cur.execute(f"SELECT id FROM orders FORCE INDEX ({index}) WHERE {column} = %s", (i % 5,))
            cur.fetchall()


def test_an_index_the_history_saw_read_is_not_called_unused_after_its_counter_was_cleared(
        mysql_server: MySqlServer, tmp_path: Path) -> None:  # noqa: F811
    """An index whose counter was cleared after the previous interval read rows through it is not "read no rows
    in the 13 minutes since the server started" (rt11 item 10): the stored runs saw it used."""
    db, dsn = new_db_on(mysql_server, INDEXED)
    store = tmp_path / "runs.db"
    _scan(dsn, store)
    _reads(mysql_server, db, "orders_status_idx", 5)
    _reads(mysql_server, db, "orders_customer_idx", 20)
    _scan(dsn, store)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        # what a table's re-opened share or a DBA's reset does to its counters
        cur.execute("TRUNCATE TABLE performance_schema.table_io_waits_summary_by_index_usage")
    # IX01's young-statistics evidence counts reads (the digests' executions): 100 of them in all
    _reads(mysql_server, db, "orders_customer_idx", 80)
    third = _scan(dsn, store)
    unused = [f for f in third.findings if f.code == "IX01"]
    assert not [f for f in unused if f.object.index == "orders_status_idx"], [f.message for f in unused]
    # the trap: the same database without history reports it (its counter says no rows since it was cleared)
    plain = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False)))
    found = [f for f in plain.findings if f.code == "IX01"]
    assert [f.object.index for f in found] == ["orders_status_idx"], [f.message for f in found]


def test_history_diff_gives_the_scan_s_own_interval_figures(mysql_server: MySqlServer,  # noqa: F811
                                                             tmp_path: Path) -> None:
    """`history diff A B` on MariaDB: the interval P95 and every figure as B's scan gave them (rt11 item 8: the
    diff counted transaction control, which the scan leaves out of the P95: 30.463 against 34.274 ms)."""
    from auditor.history import diff_runs, open_store
    from reports.history import history_dict

    db, dsn = new_db_on(mysql_server, SCHEMA)
    store = tmp_path / "runs.db"
    _scan(dsn, store)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        for i in range(30):
            cur.execute("START TRANSACTION")
            cur.execute("SELECT v FROM items WHERE id = %s", (i % 4 + 1,))
            cur.execute("SELECT SLEEP(0.002)")
            cur.execute("COMMIT")
    second = _scan(dsn, store)
    h = second.history
    assert h is not None and h.previous_run is not None and h.interval_p95_ms is not None
    with open_store(str(store)) as opened:
        diffed = diff_runs(opened, h.previous_run.id, h.run_id)
    assert diffed.interval_p95_ms == h.interval_p95_ms
    assert history_dict(diffed) | {"store": None} == history_dict(h) | {"store": None}  # type: ignore[operator]


def test_the_same_text_under_another_default_database_is_not_a_truncate(mysql_server: MySqlServer,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    """A qualified statement run first from a session with no default database, then from one whose default is
    the audited database: performance_schema starts a second digest row (SCHEMA_NAME differs), whose FIRST_SEEN
    is later than the first row's. That is no TRUNCATE (red team: "reset: the statement digests were truncated"
    and an interval of everything since the server started): the interval holds the calls run between."""
    db, dsn = new_db_on(mysql_server, SCHEMA)
    store = tmp_path / "runs.db"

    def qualified(database: str | None, n: int) -> None:
        with mysql_server.connect(database) as conn, conn.cursor() as cur:
            for i in range(n):
                cur.execute(f"SELECT v FROM `{db}`.items WHERE id = %s", (i % 4 + 1,))
                cur.fetchall()

    def calls(report: Report) -> list[tuple[int, bool]]:
        h = report.history
        assert h is not None
        return [(s.calls, s.reset) for s in h.statements if re.search(r"from `\w+` ?\. ?`items`", s.query, re.I)]

    qualified(None, 12)
    _scan(dsn, store)
    qualified(None, 5)
    _run(mysql_server, db, 3)
    second = _scan(dsn, store)
    assert calls(second) == [(5, False)]
    qualified(db, 7)  # a new digest row: the same text under SCHEMA_NAME = db
    _run(mysql_server, db, 3)
    third = _scan(dsn, store)
    h = third.history
    assert h is not None
    assert not [r for r in h.resets if r.kind in ("digest_truncate", "counter_decrease")], h.resets
    assert calls(third) == [(7, False)]
    assert _lookups(third) == [(3, False)]
    # the night after, both rows run: their calls add up, still no reset
    qualified(None, 2)
    qualified(db, 4)
    fourth = _scan(dsn, store)
    assert fourth.history is not None and calls(fourth) == [(6, False)]
    assert not [r for r in fourth.history.resets if r.kind in ("digest_truncate", "counter_decrease")]


def test_a_previous_p95_that_was_only_the_mean_is_not_compared_as_a_p95(mysql_server: MySqlServer,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    """MariaDB keeps no stddev: an interval's comes from the difference of two estimated cumulative ones, and when
    that comes out as zero the interval's "P95" is its mean (30 calls of 30 ms). The next interval, whose mean went
    down, is not "regressed" because its estimated P95 is twice that mean (red team: "regressed: mean 2.07 ->
    1.855 ms")."""
    from reports.history import history_dict

    db, dsn = new_db_on(mysql_server, SCHEMA)
    store = tmp_path / "runs.db"

    def sleeps(seconds: list[float]) -> Report:
        with mysql_server.connect(db) as conn, conn.cursor() as cur:
            for s in seconds:
                cur.execute("SELECT SLEEP(%s)", (s,))
        return _scan(dsn, store)

    def sleep_figures(report: Report) -> tuple[float, float | None, float | None, tuple[str, ...]]:
        assert report.history is not None
        s = next(s for s in report.history.statements if "SLEEP" in s.query.upper())
        return s.mean_ms, s.previous_mean_ms, s.previous_p95_ms, s.regressed_by

    _scan(dsn, store)
    sleeps([0.002] * 10 + [0.05])  # the maximum the next interval's calls stay under
    mean, prev_mean, _, by = sleep_figures(sleeps([0.03] * 30))
    assert "mean" in by and prev_mean is not None and mean > 2 * prev_mean
    third = sleeps([0.025] * 20 + [0.1])
    mean, prev_mean, prev_p95, by = sleep_figures(third)
    assert prev_mean is not None and mean < 2 * prev_mean
    assert (prev_p95, by) == (None, ()), sleep_figures(third)
    doc = history_dict(third.history)
    assert doc is not None
    assert [s["regressed_by"] for s in doc["statements"] if "SLEEP" in s["query"].upper()] == [[]]


def test_a_first_run_with_history_does_not_pass_unused_indexes_on_young_statistics(
        mysql_server: MySqlServer, tmp_path: Path) -> None:  # noqa: F811
    """The store holds no run yet, so it covers no time: the unused-index metric is "not measured (too early)"
    as without --history, not "0 indexes pass" beside IX01's info candidates (red team: 3 candidates on a 6-minute
    window)."""
    db, dsn = new_db_on(mysql_server, INDEXED)
    _reads(mysql_server, db, "orders_customer_idx", 110)  # IX01's evidence on young statistics: 100 reads
    plain = run_audit(dsn, AuditSettings(collect=CollectOptions(sample=False)))
    store = tmp_path / "runs.db"
    for report in (plain, _scan(dsn, store)):
        metric = next(m for m in report.metrics if m.key == "unused_indexes")
        assert metric.value is None and (metric.reason or "").startswith("too early"), metric
        assert [f.object.index for f in report.findings if f.code == "IX01"] == ["orders_status_idx"]


def test_a_rebuilt_table_s_unused_index_is_not_looked_at_rather_than_resolved(
        mysql_server: MySqlServer, tmp_path: Path) -> None:  # noqa: F811
    """``ALTER TABLE ... ALGORITHM=COPY`` rebuilds the table and restarts its index counters: IX01's window for
    its indexes starts again and the evidence that the table is read is gone, so it cannot judge them. The
    previous run's IX01 finding is "not looked at", not "resolved" (red team: "resolved: IX01 ix_weight" on an
    index still unused); an index scanned since is resolved."""
    db, dsn = new_db_on(mysql_server, INDEXED)
    _reads(mysql_server, db, "orders_customer_idx", 110)  # IX01's evidence on young statistics: 100 reads
    store = tmp_path / "runs.db"
    first = _scan(dsn, store)
    assert [f.object.index for f in first.findings if f.code == "IX01"] == ["orders_status_idx"]
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT SLEEP(1.1)")  # TABLES.CREATE_TIME has whole seconds
        cur.execute("ALTER TABLE orders FORCE, ALGORITHM=COPY")
    h = _scan(dsn, store).history
    assert h is not None
    assert not [f for f in h.resolved_findings if f.code == "IX01"], h.resolved_findings
    assert [f.object.index for f in h.not_looked_at if f.code == "IX01"] == ["orders_status_idx"]
    _reads(mysql_server, db, "orders_status_idx", 3)  # used now: judged, and resolved
    h = _scan(dsn, store).history
    assert h is not None
    assert [f.object.index for f in h.resolved_findings if f.code == "IX01"] == ["orders_status_idx"]
    assert not h.not_looked_at
