"""Every check over a generated 10,000-table snapshot (issue 15): the right findings, on the right objects.

No timing is asserted here (the machine is shared); ``bench/bench_checks.py`` prints the CPU time. What is asserted
is that the lookups the checks were rewritten to use give the same answers the rules give, at scale.
"""

from __future__ import annotations

import gc
from collections import Counter

import pytest

from auditor.bulk import frozen_heap
from auditor.engine import all_checks, run_checks
from auditor.model import Finding, Severity, Snapshot
from auditor.workload import analyze_query, may_page, may_read_catalog, statement_has_offset, statement_kind
from tests.scale import EXPLAINED, scale_snapshot

N = 10_000
STATEMENTS = 5_000


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return scale_snapshot(N, STATEMENTS)


@pytest.fixture(scope="module")
def findings(snapshot: Snapshot) -> list[Finding]:
    return list(run_checks(snapshot, all_checks()).findings)


def _by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def test_shape(snapshot: Snapshot) -> None:
    assert len(snapshot.tables) == N
    assert len(snapshot.indexes) > 3 * N
    assert len(snapshot.statements) == STATEMENTS and len(snapshot.plans) == EXPLAINED


def test_counts_follow_the_generator_rules(findings: list[Finding]) -> None:
    counts = Counter(f.code for f in findings)
    odd_parents = sum(1 for i in range(2, N + 1) if i % 2)  # parent_id keys without the (parent_id, ...) index
    other_keys = sum(1 for i in range(3, N + 1) if i % 3 == 0)  # other_id keys, never indexed
    assert counts["IX05"] == odd_parents + other_keys
    assert counts["IX02"] == N // 10
    assert counts["IX03"] == N // 13
    assert counts["IX01"] == N // 100
    assert counts["IX04"] == N // 1000
    assert counts["KY01"] == N // 500
    assert counts["KY03"] == N // 250
    assert counts["SC05"] == N // 2  # the even tables' functions have no search_path
    assert counts["WL04"] == len(range(2, STATEMENTS, 6))  # the OFFSET shape
    assert counts["WL01"] == len(range(7, STATEMENTS, 50))  # the 150 ms statements


def test_findings_name_the_right_objects(findings: list[Finding]) -> None:
    ix05 = {(f.object.table, f.object.constraint) for f in _by_code(findings, "IX05")}
    assert ("t00003", "t00003_parent_id_fkey") in ix05
    assert ("t00003", "t00003_other_id_fkey") in ix05
    assert ("t00004", "t00004_parent_id_fkey") not in ix05  # led by (parent_id, created_at)
    ix02 = {f.object.index: f.details["duplicate_of"] for f in _by_code(findings, "IX02")}
    assert ix02["t00010_name_dup_idx"] == "t00010_name_idx"
    ix03 = {f.object.index: f.details["covered_by"] for f in _by_code(findings, "IX03")}
    assert ix03 == {f"t{i:05d}_code_idx": f"t{i:05d}_code_status_idx" for i in range(13, N + 1, 13)}
    # every proposed index name is new, even with thousands proposed in one schema
    names = [f.remediation.split()[3] for f in _by_code(findings, "IX05") if f.remediation]
    assert len(names) == len(set(names))


def test_next_steps_group_thousands_of_findings_in_one_pass(findings: list[Finding],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor import design

    # 8,000+ IX05 proposals compared pairwise took 10 s: count the comparisons instead of timing them (a
    # timed test fails on a loaded machine); grouped per table, each proposal meets only its own table's
    compared = 0
    serves = design._serves

    def counting(*args: object, **kwargs: object) -> bool:
        nonlocal compared
        compared += 1
        return serves(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(design, "_serves", counting)
    steps = design.next_steps(findings, ())
    proposals = sum(1 for f in findings if f.code in design.ADD_CODES)
    assert proposals > 1000 and compared <= 2 * proposals, (proposals, compared)
    assert sum(1 for s in steps if s.code == "IX05") == 1


def test_statement_kind_agrees_with_the_parse_tree(snapshot: Snapshot) -> None:
    texts = [s.query for s in snapshot.statements[:300]] + [
        "", "-- only a comment", "SELEC x", "EXPLAIN SELECT 1", "VALUES (1)", "(SELECT 1) UNION SELECT 2",
        "WITH a AS (SELECT 1) DELETE FROM t", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
        "BEGIN", "COMMIT", "SET x = 1; SELECT 1", "SHOW work_mem", "DISCARD ALL", "SET CONSTRAINTS ALL DEFERRED",
        "PREPARE p AS SELECT 1", "EXECUTE p", "LISTEN x", "CREATE TABLE x (a int)", "COPY t TO STDOUT",
        "SELECT '\"stmts\":[{\"stmt\":{\"DeleteStmt\"'", "/* a */ /* b */ UPDATE t SET a = $1",
    ]
    for text in texts:
        assert statement_kind(text) == analyze_query(text).kind, text


def test_statement_has_offset_agrees_with_the_parse_tree(snapshot: Snapshot) -> None:
    texts = [s.query for s in snapshot.statements[:300]] + [
        "SELECT * FROM (SELECT 1 OFFSET 2) x", "WITH c AS (SELECT 1 OFFSET 1) SELECT * FROM c",
        "SELECT 1 UNION (SELECT 2 OFFSET 4)", "UPDATE t SET a = (SELECT b FROM u OFFSET 1)",
        "DELETE FROM t WHERE id IN (SELECT id FROM t OFFSET $1)", "CREATE VIEW v AS SELECT 1 OFFSET 1",
        "EXPLAIN SELECT 1 OFFSET 3", "SELECT 1; SELECT 2 OFFSET 1", "SELECT 2 OFFSET 1; SELECT 1", "", "SELEC x",
        "SELECT '\"limitOffset\":' AS x", 'SELECT 1 AS "limitOffset"', 'SELECT "limitOffset:" FROM t',
        "SELECT offset FROM t", "SELECT 1 FETCH FIRST 3 ROWS ONLY", "SELECT 1 LIMIT ALL OFFSET 0",
    ]
    assert sum(analyze_query(text).has_offset for text in texts) >= 50  # both answers are met
    for text in texts:
        assert statement_has_offset(text) == analyze_query(text).has_offset, text


@pytest.mark.parametrize("text", [
    "SELECT * FROM t LIMIT $1 OFFSET $2", "select * from t offset 5", "SELECT * FROM t LIMIT ?, ?",
    "SELECT * FROM t ORDER BY a FETCH FIRST 5 ROWS ONLY", "SELECT offsets FROM t", "SELECT * FROM t",
])
def test_may_page_is_never_wrong_about_an_offset(text: str) -> None:
    if analyze_query(text).has_offset:
        assert may_page(text)


@pytest.mark.parametrize("text", [
    "SELECT * FROM pg_class", "SELECT * FROM PG_CLASS c JOIN Pg_Namespace n ON n.oid = c.relnamespace",
    "SELECT * FROM information_schema.tables", "SELECT * FROM INFORMATION_SCHEMA.COLUMNS",
    "SELECT * FROM pg_catalog.pg_stat_activity", "SELECT * FROM orders", "SELECT 1",
])
def test_may_read_catalog_is_never_wrong_about_a_catalog_statement(text: str) -> None:
    if analyze_query(text).catalog_only:
        assert may_read_catalog(text)
    assert may_read_catalog(text) == ("pg_" in text.lower() or "information_schema" in text.lower())


def test_report_details_the_largest_tables_only_past_the_limit() -> None:
    from datetime import UTC, datetime

    from auditor.report import build_report
    from reports.document import DETAIL_MAX_TABLES, Heading, Para, build_document

    snap = scale_snapshot(DETAIL_MAX_TABLES + 100, 50)
    doc = build_document(build_report(snap, run_checks(snap, all_checks()), datetime.now(UTC), 1.0))
    details = [b for b in doc.blocks if isinstance(b, Heading) and b.level == 3 and b.anchor.startswith("t-")]
    assert len(details) == DETAIL_MAX_TABLES
    largest = sorted(snap.tables, key=lambda t: -(t.total_bytes or 0))[:DETAIL_MAX_TABLES]
    assert {d.anchor for d in details} == {f"t-{t.schema}-{t.name}" for t in largest}
    notes = [b for b in doc.blocks if isinstance(b, Para) and "Trimmed: the definitions" in str(b.runs[0])]
    assert len(notes) == 1 and f"of the {DETAIL_MAX_TABLES + 100} tables" in str(notes[0].runs[0])


def test_findings_come_in_the_order_of_severity_code_and_label(findings: list[Finding]) -> None:
    """run_checks groups the findings by severity and check and sorts each group by label: the order a stable
    sort of them all by (severity, code, label) gives."""
    rank = {severity: -severity.rank for severity in Severity}
    assert findings == sorted(findings, key=lambda f: (rank[f.severity], f.code, f.object.label()))
    assert len({f.severity for f in findings}) > 1


def test_no_collection_walks_what_the_checks_built() -> None:
    """The objects the checks leave (findings, the snapshot's lookups) go to the oldest generation when run_checks
    ends: the collection the first allocation after it started used to walk them all (a tenth of the checks'
    time at 10,000 tables), for no garbage."""
    snap = scale_snapshot(300, 100)
    started: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    assert gc.isenabled()
    gc.callbacks.append(watch)
    try:
        result = run_checks(snap, all_checks())
        after = [object() for _ in range(10)]  # the allocations that started that collection
    finally:
        gc.callbacks.remove(watch)
    assert result.findings and after
    assert started == []
    assert gc.isenabled()


def test_what_the_checks_built_stays_frozen_inside_a_frozen_heap() -> None:
    """In a scan the snapshot is frozen (auditor.audit): the checks' objects join it, and leave with it."""
    snap = scale_snapshot(300, 100)
    with frozen_heap():
        frozen = gc.get_freeze_count()
        result = run_checks(snap, all_checks())
        assert gc.get_freeze_count() > frozen
    assert gc.get_freeze_count() == 0
    assert result.findings
