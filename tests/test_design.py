"""auditor.design: the ER model and its trimming, the Mermaid text, read/write mix, sizes, strategy, steps."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from auditor.design import (
    er_model,
    index_strategy,
    largest_tables,
    mermaid_er,
    mermaid_word,
    next_steps,
    partition_candidates,
    table_profiles,
    table_sizes,
    top_statements,
)
from auditor.model import Finding, ObjectRef, Severity, TableStats
from auditor.scoring import Metric, compute_metrics
from tests.builders import fk, pk, snap, table
from tests.report_samples import design_findings, design_report, design_snapshot

# Mermaid erDiagram grammar, line by line, as dbaudit writes it
ENTITY = re.compile(r'^    "[\w .$-]+" \{$')
WORD = r"[A-Za-z_][\w\-\[\]()]*"
ATTRIBUTE = re.compile(rf'^        {WORD} {WORD}( (PK|FK|UK)(,(PK|FK|UK))*)?( "[\w .$-]*")?$')
RELATION = re.compile(r'^    "[\w .$-]+" (\|\||\|o)--(o\{|o\|) "[\w .$-]+" : "[\w .$-]*"$')


def assert_mermaid_syntax(text: str) -> None:
    lines = text.splitlines()
    assert lines[0] == "erDiagram"
    for line in lines[1:]:
        assert ENTITY.match(line) or ATTRIBUTE.match(line) or RELATION.match(line) or line == "    }", line
        if ATTRIBUTE.match(line):  # an attribute named PK/FK/UK would be read as a key marker
            assert line.split()[1].lower() not in {"pk", "fk", "uk"}, line


def test_mermaid_of_odd_names_is_valid() -> None:
    text = mermaid_er(er_model(design_snapshot()))
    assert_mermaid_syntax(text)
    assert "<" not in text and "&" not in text and "%" not in text and "`" not in text
    assert '"Sales Data.odd _name_ _b__amp____x_" {' in text
    assert "        integer pk_ \"column pk\"" in text  # a column named like a key keyword is renamed
    assert "        numeric(10_2) weird_col \"column weird col\"" in text
    assert '"public.customers" ||--o{ "public.orders" : "orders_customer_id_fkey"' in text


def test_mermaid_words() -> None:
    assert mermaid_word("character varying(20)") == "character_varying(20)"
    assert mermaid_word("2fa") == "_2fa"
    assert mermaid_word("FK") == "FK_"
    assert mermaid_word("") == "_"


def test_names_that_sanitise_alike_stay_apart() -> None:
    text = mermaid_er(er_model(snap(table("a b"), table("a<b"))))
    assert '"a b" {' in text and '"a_b" {' in text
    text = mermaid_er(er_model(snap(table("a<b"), table("a>b"))))
    assert '"a_b" {' in text and '"a_b_2" {' in text


def test_cardinality_from_nullability_and_uniqueness() -> None:
    s = snap(
        table("users", ["id"]), pk("users"),
        table("profiles", ["user_id"], not_null=["user_id"]), pk("profiles", ["user_id"]),
        fk("profiles", ["user_id"], "users"),
        table("posts", ["id", "editor_id"]), pk("posts"), fk("posts", ["editor_id"], "users"),
    )
    text = mermaid_er(er_model(s))
    assert '"users" ||--o| "profiles"' in text  # one-to-one: the FK is the child's key
    assert '"users" |o--o{ "posts"' in text  # nullable FK: optional parent


def test_large_schema_is_trimmed_to_the_most_connected() -> None:
    objects: list = [table("hub", ["id"]), pk("hub")]
    for i in range(60):
        objects += [table(f"spoke{i:02}", ["id", "hub_id"]), fk(f"spoke{i:02}", ["hub_id"], "hub")]
    objects += [table(f"lonely{i}", ["id"]) for i in range(5)]
    model = er_model(snap(*objects), max_tables=40)
    names = {e.name for e in model.entities}
    assert len(names) == 40 and "hub" in names and not any(n.startswith("lonely") for n in names)
    assert model.total_tables == 66 and len(model.omitted) == 26
    assert model.omitted_relations == 21
    assert_mermaid_syntax(mermaid_er(model))


def test_wide_tables_keep_their_keys() -> None:
    cols = ["id", *[f"c{i}" for i in range(30)], "owner_id"]
    s = snap(table("owners"), pk("owners"), table("wide", cols), pk("wide"), fk("wide", ["owner_id"], "owners"))
    wide = next(e for e in er_model(s, max_columns=5).entities if e.name == "wide")
    assert [a.name for a in wide.attributes] == ["id", "c0", "c1", "c2", "owner_id"]
    assert wide.hidden_columns == 27


def test_partitions_count_into_their_parent() -> None:
    parent = table("events", ["id"], kind="partitioned", rows=0)
    parts = [table(f"events_{i}", ["id"], is_partition=True, parent="public.events", rows=60_000_000)
             for i in range(2)]
    s = snap(parent, *parts, table("big", rows=200_000_000))
    sizes = {t.table.name: t for t in largest_tables(s)}
    assert sizes["events"].rows == 120_000_000 and sizes["events"].partitions == 2
    assert [c.table.name for c in partition_candidates(s)] == ["big"]  # events is partitioned already
    assert {e.name for e in er_model(s).entities} == {"events", "big"}


def test_index_strategy_and_statements() -> None:
    strategy = index_strategy(design_findings())
    assert [f.code for f in strategy.drop] == ["IX04", "IX01"]
    assert [f.code for f in strategy.add] == ["WL02", "IX05"]
    assert strategy.unused_bytes == 2_000_000_000
    views = top_statements(design_snapshot(), design_findings())
    assert [v.statement.queryid for v in views] == ["101", "102"]  # BEGIN (103) is session control, left out
    assert [f.code for f in views[0].findings] == ["WL02"] and views[0].share_pct == 94.7


def test_next_steps_put_errors_first_then_points() -> None:
    report = design_report()
    steps = next_steps(report.findings, report.metrics, report.skipped)
    assert steps[0].code == "IX04" and steps[0].severity == Severity.ERROR and steps[0].points == 10
    assert all(s.points == 3 for s in steps[1:6])
    failed = [s for s in steps if s.title.startswith("Bring")]
    assert len(failed) == sum(1 for m in report.metrics if m.passed is False)
    assert steps[-1].title == "Enable WL03 n-plus-one" and steps[-1].points == 0
    assert next_steps((), (Metric("k", "K", 1, passed=True),)) == []


def test_read_write_mix() -> None:
    from auditor.design import table_profiles

    profiles = {p.table.name: p for p in table_profiles(design_snapshot())}
    mix = profiles["customers"].mix
    assert mix.reads == 9_004 and mix.writes == 1_500 and mix.read_pct == 85.7 and mix.index_scan_pct == 100.0
    assert profiles["products"].mix.read_pct is None  # no statistics: no made-up figure
    cols = {c.column.name: c.constraints for c in profiles["orders"].columns}
    assert cols["customer_id"] == ("FK -> public.customers(id)", "NOT NULL")



def test_partitioned_sizes_count_each_row_once_and_never_analyzed_tables_show_live_tuples() -> None:
    from dataclasses import replace

    # an analyzed parent carries its partitions' total as its own estimate: counting both would double it
    parent = replace(table("payment", ["id"], kind="partitioned", rows=16_000), total_bytes=0)
    parts = [replace(table(f"payment_p{i}", ["id"], is_partition=True, parent="public.payment", rows=8_000),
                     total_bytes=1_000_000) for i in range(2)]
    sub = replace(table("payment_p2", ["id"], kind="partitioned", is_partition=True, parent="public.payment",
                        rows=None), total_bytes=0)
    leaf = replace(table("payment_p2_a", ["id"], is_partition=True, parent="public.payment_p2", rows=None),
                   total_bytes=500, stats=TableStats(n_live_tup=7))
    category = replace(table("category", ["id"], rows=None), total_bytes=100, stats=TableStats(n_live_tup=16))
    s = snap(parent, *parts, sub, leaf, category)
    sizes = table_sizes(s)
    assert set(sizes) == {("public", "payment"), ("public", "category")}
    pay = sizes[("public", "payment")]
    assert (pay.rows, pay.total_bytes, pay.partitions) == (16_007, 2_000_500, 4)
    assert pay.rows_from_live  # the never-analyzed sub-partition contributes its live tuples
    cat = sizes[("public", "category")]
    assert (cat.rows, cat.rows_from_live) == (16, True)
    profiles = {p.table.name: p for p in table_profiles(s)}
    assert profiles["payment"].size == pay and profiles["payment"].partitions == 4

    from reports.markdown import render_markdown

    text = render_markdown(_report_of(s))
    assert "partitioned, about 16,007 (live) rows, 1.9 MB, 4 partitions" in text
    assert "about 16 (live) rows" in text and "about - rows" not in text
    assert "2 tables, 0 indexes, 1.9 MB (of which indexes 0 B), about 16,023 rows" in text


def _report_of(s):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from auditor.engine import RunResult
    from auditor.report import build_report

    return build_report(s, RunResult(findings=(), skipped=(), ran=()), datetime(2026, 1, 1, tzinfo=UTC), 0.0)


def test_unused_index_candidates_are_watched_not_dropped() -> None:
    def ix01(severity: Severity, remediation: str | None, name: str) -> Finding:
        return Finding(code="IX01", check="unused-index", severity=severity, category="indexes",
                       object=ObjectRef("index", "public", "t", index=name), message=f"{name} unused",
                       details={"index_bytes": 10}, remediation=remediation)

    young = ix01(Severity.INFO, "DROP INDEX CONCURRENTLY public.a;", "a")
    kept = ix01(Severity.WARNING, None, "b")
    strategy = index_strategy([young, kept])
    assert strategy.drop == () and strategy.watch == (young, kept) and strategy.unused_bytes == 0
    metrics = compute_metrics(snap(), [young, kept], checks_run=("IX01",))
    steps = next_steps([young], metrics)
    # no failed metric, and the info step proposes no DROP
    assert [s.title for s in steps] == ["IX01 unused-index: watch 1 candidate (too early to judge)"]
    assert steps[0].sql == ()


def _wl(code: str, queryid: str, total_ms: float, table: str = "orders", columns: tuple[str, ...] = (),
        remediation: str | None = None, **details: object) -> Finding:
    check = {"WL01": "slow-query", "WL02": "missing-index-for-query", "WL03": "n-plus-one"}[code]
    return Finding(code=code, check=check, severity=Severity.WARNING, category="workload",
                   object=ObjectRef("query", "public", table, columns, query=f"SELECT {queryid}", queryid=queryid),
                   message=f"{code} on {queryid}", details={"total_ms": total_ms, "calls": 10, **details},
                   remediation=remediation)


def _ix05(table: str, columns: tuple[str, ...], remediation: str) -> Finding:
    return Finding(code="IX05", check="missing-fk-index", severity=Severity.WARNING, category="indexes",
                   object=ObjectRef("foreign_key", "public", table, columns, constraint=f"{table}_fkey"),
                   message=f"{table}{columns} unindexed", remediation=remediation)


def test_next_steps_rank_by_the_time_they_would_save_not_by_points() -> None:
    ky01 = [Finding(code="KY01", check="no-primary-key", severity=Severity.WARNING, category="keys",
                    object=ObjectRef("table", "public", f"t{i}"), message="no pk") for i in range(4)]
    slow = _wl("WL01", "1", 5_000.0)  # 5 s measured: one finding, 3 points
    lookup = _wl("WL03", "2", 40_000.0)  # 40 s measured
    tiny = _wl("WL01", "3", 0.5)  # below 1 % of the workload: ranked by points, behind KY01's 4 findings
    steps = next_steps([*ky01, slow, lookup, tiny], (), workload_ms=100_000.0)
    assert [s.code for s in steps] == ["WL03", "WL01", "KY01"]
    assert steps[0].saves_ms == 40_000.0 and "upper bound" in steps[0].saves_how
    assert steps[1].saves_ms == 5_000.5  # both WL01 statements, each counted once
    assert steps[2].points == 10  # 4 x 3, capped
    # an error still comes first, whatever the time
    ix04 = Finding(code="IX04", check="invalid-index", severity=Severity.ERROR, category="indexes",
                   object=ObjectRef("index", "public", "t", index="i"), message="invalid")
    assert next_steps([lookup, ix04], ())[0].code == "IX04"


def test_one_create_index_for_several_checks() -> None:
    narrow = "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"
    wide = "CREATE INDEX CONCURRENTLY orders_customer_id_created_at_idx ON public.orders (customer_id, created_at);"
    by_customer = _wl("WL02", "11", 9_000.0, columns=("customer_id",), remediation=narrow,
                      verified=True, cost_before=1000.0, cost_after=10.0)
    by_customer_sorted = _wl("WL02", "12", 1_000.0, columns=("customer_id", "created_at"), remediation=wide)
    fk_same = _ix05("orders", ("customer_id",), narrow)
    other_fk = _ix05("lines", ("order_id",), "CREATE INDEX CONCURRENTLY lines_order_id_idx ON public.lines (order_id);")
    by_status = _wl("WL02", "13", 50.0, columns=("status",),
                    remediation="CREATE INDEX CONCURRENTLY orders_status_idx ON public.orders (status);")
    steps = next_steps([by_customer, by_customer_sorted, fk_same, other_fk, by_status], (), workload_ms=20_000.0)
    sql = [line for s in steps for line in s.sql]
    assert sql.count(narrow) == 0 and sql.count(wide) == 1  # the wider index serves all three
    (merged,) = [s for s in steps if wide in s.sql]
    assert merged.codes == ("IX05", "WL02") and merged.points == 9
    assert merged.title == "Create the index on public.orders (customer_id, created_at)"
    assert "resolves IX05, WL02 x2" in merged.detail and "public.orders(customer_id) [orders_fkey]" in merged.detail
    # hypopg's cost ratio scales the verified statement: 9000 x (1 - 10/1000) + 1000 (unverified: all of it)
    assert merged.saves_ms == 9_000.0 * 0.99 + 1_000.0 and "upper bound" in merged.saves_how
    assert steps[0] is merged
    # the other foreign key stays in IX05's own step, the status index is its own step
    assert [s.code for s in steps[1:]] == ["IX05", "WL02"]
    assert steps[2].saves_ms == 50.0  # under 1 % of 20 s: ranked by points, after IX05 on a tie
    assert steps[2].title == "Create the index on public.orders (status)"
    assert steps[2].detail == "1 missing-index-for-query finding; e.g. WL02 on 13"


def test_an_identical_proposal_merges_but_a_different_key_does_not() -> None:
    sql = "CREATE INDEX CONCURRENTLY t_a_b_idx ON public.t (a, b);"
    # a composite key (b, a) is served by an index leading with a, b in any order; (a) alone is not a WL02 prefix
    wl = _wl("WL02", "1", 100.0, table="t", columns=("a", "b"), remediation=sql)
    fk = _ix05("t", ("b", "a"), "CREATE INDEX CONCURRENTLY t_b_a_idx ON public.t (b, a);")
    other = _wl("WL02", "2", 100.0, table="t", columns=("b",),
                remediation="CREATE INDEX CONCURRENTLY t_b_idx ON public.t (b);")
    steps = next_steps([wl, fk, other], ())
    assert [s.sql for s in steps] == [(sql,), ("CREATE INDEX CONCURRENTLY t_b_idx ON public.t (b);",)]
    assert steps[0].codes == ("IX05", "WL02")


def test_a_slow_statement_with_a_fix_elsewhere_counts_its_time_there() -> None:
    sql = "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"
    cured = _wl("WL02", "1", 30_000.0, columns=("customer_id",), remediation=sql)
    slow_cured = _wl("WL01", "1", 30_000.0)  # the same statement: the index is its cure
    slow_alone = _wl("WL01", "2", 2_000.0)
    steps = next_steps([cured, slow_cured, slow_alone], (), workload_ms=40_000.0)
    assert [(s.code, s.saves_ms) for s in steps] == [("WL02", 30_000.0), ("WL01", 2_000.0)]


def test_an_expression_index_merges_only_with_the_same_expression() -> None:
    expr = _wl("WL02", "1", 500.0, table="t", columns=("name",), expression="lower(name)",
               remediation="CREATE INDEX CONCURRENTLY t_lower_name_idx ON public.t ((lower(name)));")
    plain = _wl("WL02", "2", 400.0, table="t", columns=("name",),
                remediation="CREATE INDEX CONCURRENTLY t_name_idx ON public.t (name);")
    fk = _ix05("t", ("name",), "CREATE INDEX CONCURRENTLY t_name_idx ON public.t (name);")
    steps = next_steps([expr, plain, fk], ())
    assert [(s.title, s.codes) for s in steps] == [
        ("Create the index on public.t (lower(name))", ("WL02",)),
        ("Create the index on public.t (name)", ("IX05", "WL02")),
    ]


def test_keys_declared_on_partitions_merge_into_the_partitioned_tables_index() -> None:
    fix = "CREATE INDEX payment_rental_id_idx ON ONLY public.payment (rental_id);"
    wl = _wl("WL02", "1", 300.0, table="payment", columns=("rental_id",), remediation=fix,
             scanned=["public.payment_p1", "public.payment_p2"])
    on_parts = [_ix05(f"payment_p{i}", ("rental_id",), f"CREATE INDEX CONCURRENTLY p{i} ON public.payment_p{i} "
                      "(rental_id);") for i in (1, 2, 3)]
    steps = next_steps([wl, *on_parts], ())
    assert steps[0].title == "Create the index on public.payment (rental_id)" and steps[0].codes == ("IX05", "WL02")
    assert "resolves IX05 x2, WL02" in steps[0].detail
    # a partition the statement did not read keeps its own step
    assert [s.code for s in steps[1:]] == ["IX05"] and steps[1].examples == ("public.payment_p3(rental_id) "
                                                                            "[payment_p3_fkey]",)


def test_the_unexplained_statements_counted_by_reason() -> None:
    from auditor.design import unexplained_by_reason
    from auditor.model import Statement

    def stmt(n: int) -> Statement:
        return Statement(queryid=str(n), query=f"SELECT {n}")

    missed = [(stmt(n), "over the statement budget") for n in range(2273)]
    missed += [(stmt(3000), "error 42725: operator is not unique: date + unknown"),
               (stmt(3001), "error 42P01: relation \"...\" does not exist"),
               (stmt(3002), "over the time budget")]
    assert unexplained_by_reason(missed) == [("over the statement budget", 2273), ("an error from the server", 2),
                                             ("over the time budget", 1)]
    assert unexplained_by_reason([]) == []


def test_parse_errors_are_one_reason_wherever_the_parser_stopped() -> None:
    from auditor.design import unexplained_by_reason
    from auditor.model import Statement

    missed = [(Statement(queryid=str(n), query=f"SELECT {n}"), f"cannot be parsed: Expecting ). Line 1, Col: {n}.")
              for n in (12, 40, 77)]
    missed += [(Statement(queryid=str(n), query="SELECT"),
                f'cannot be parsed: syntax error at or near "=", at index {n}') for n in (5, 9)]
    assert unexplained_by_reason(missed) == [("cannot be parsed: Expecting )", 3),
                                             ('cannot be parsed: syntax error at or near "="', 2)]


def test_statements_set_apart_are_not_listed_as_unexplained() -> None:
    """Red team (MariaDB): CREATE TABLE digests the parser could not read were listed as not explained, though
    the workload note set them apart; so were they in history's "top:" list."""
    from auditor.design import unexplained_statements
    from auditor.history.model import HistoryComparison, PreviousRun, StatementDelta
    from auditor.model import PlanSummary, Statement
    from reports.history import comparison_lines

    ddl = Statement(queryid="1", query="CREATE TABLE `t` ( `id` INTEGER , PARTITION BY RANGE", total_ms=9e4)
    load = Statement(queryid="2", query="INSERT INTO t VALUES (...) /* , ... */", total_ms=8e4)
    app = Statement(queryid="3", query="SELECT * FROM t WHERE (a = ?", total_ms=10)
    reason = "cannot be parsed: Expecting ). Line 1, Col: 28."
    s = snap(table("t"), engine="mysql", statements=(ddl, load, app),
             plans=tuple(PlanSummary(queryid=q, reason=reason) for q in "123"))
    assert [st.queryid for st, _ in unexplained_statements(s)] == ["3"]

    def delta(query: str, total_ms: float) -> StatementDelta:
        return StatementDelta(query=query, calls=1, total_ms=total_ms, mean_ms=total_ms, p95_ms=None,
                              regressed=False, database="d", user="u", toplevel=True, fingerprint=query)

    h = HistoryComparison(store="s", run_id=2, target="t", interval_calls=3, interval_s=86_400,
                          previous_run=PreviousRun(id=1, started_at=datetime(2026, 11, 28, tzinfo=UTC)),
                          statements=(delta("ALTER TABLE t ADD INDEX (a)", 18_600),
                                      delta("CREATE INDEX i ON t (a)", 9000), delta("SELECT a FROM t", 1820.4)))
    top = [line for line in comparison_lines(h) if "top:" in line]
    assert top == ["    top: 1.8 s in 1 call (mean 1.8 s)  SELECT a FROM t"], top


def test_a_partitioned_table_shows_its_partitions_scans_writes_and_index_figures() -> None:
    # rt: audit.events showed "0 scans (- by index), 0 rows inserted" and its indexes "0 B" / "-" although its
    # partitions took 1,920 inserts and their indexes 1,920 scans
    from dataclasses import replace

    from reports.markdown import render_markdown
    from tests.builders import index

    def part(n: int) -> object:
        t = table(f"events_{n}", ["id", "at"], is_partition=True, parent="public.events", seq_scan=2, idx_scan=480)
        return replace(t, stats=replace(t.stats, n_tup_ins=960))

    s = snap(table("events", ["id", "at"], kind="partitioned", seq_scan=0), part(1), part(2),
             index("events", ["at"], name="events_at_idx", scans=None, size_bytes=0),
             index("events_1", ["at"], name="events_1_at_idx", scans=480, size_bytes=8192,
                   parent_index="events_at_idx"),
             index("events_2", ["at"], name="events_2_at_idx", scans=1440, size_bytes=16384,
                   parent_index="events_at_idx"))
    (events,) = [p for p in table_profiles(s) if p.table.name == "events"]
    assert (events.mix.reads, events.mix.index_scans, events.mix.rows_inserted) == (964, 960, 1920)
    assert events.index_figures == ((24576, 1920),)
    text = render_markdown(replace(design_report(), snapshot=s, findings=()))
    section = text.split("### public.events\n")[1].split("\n### ")[0]
    assert "2 partitions (rows, size, scans and rows written summed over them); 964 scans (99.6 % by index), " \
           "1,920 rows inserted" in section
    assert "| `events_at_idx` |" in section and "| 24.0 kB | 1,920 |" in section
    assert "A partitioned index's size and scans are those of its partitions' indexes, summed." in section
