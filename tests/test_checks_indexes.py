"""IX01-IX05 on tiny snapshots: each check fires on its planted case and stays silent on the look-alike."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import psycopg

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import iter_hits, load_checks, run_checks
from auditor.model import Hit, IndexKey, Severity, Snapshot, Statement, Table, TableStats, WorkloadInfo
from checks.indexes import MissingFkIndexOptions, UnusedIndexOptions
from tests.builders import SnapObject, fk, index, pk, snap, table, unique
from tests.conftest import NewDb

SPECS = load_checks()


def hits(code: str, snapshot: Snapshot, opts: Any = None) -> list[Hit]:
    return list(iter_hits(SPECS[code], snapshot, opts))


def names(found: list[Hit]) -> list[str]:
    return sorted(h.object.index or "" for h in found)


# ---- IX01 unused-index -------------------------------------------------------------------------------------


def test_unused_index_fires_on_unscanned_plain_index_with_mature_stats() -> None:
    s = snap(
        table("orders", ["id", "status text"], seq_scan=10, idx_scan=5),
        pk("orders"),
        index("orders", ["status"], name="orders_status_idx", scans=0, size_bytes=16384),
        index("orders", ["id", "status"], name="orders_used_idx", scans=3),
        stats_age=timedelta(days=12),
    )
    found = hits("IX01", s)
    assert names(found) == ["orders_status_idx"]
    hit = found[0]
    assert hit.severity is None  # the check's default: warning
    assert "12 days since statistics were reset on 2026-11-12" in hit.message
    assert hit.details["index_bytes"] == 16384
    # the 3 scans of orders_used_idx; sequential scans (sampling makes them) and the primary key's lookups
    # are no evidence
    assert hit.details["table_scans"] == 3
    assert hit.details["stats_age_s"] == 12 * 86400
    assert hit.object.table == "orders" and hit.object.type == "index"
    assert hit.remediation == "DROP INDEX CONCURRENTLY public.orders_status_idx;"


def test_unused_index_never_flags_constraint_unique_unknown_or_invalid_indexes() -> None:
    s = snap(
        table("t", ["id", "a", "b", "c", "d"], seq_scan=1000),
        pk("t"),  # scans=0 but backs the primary key
        unique("t", ["a"]),
        index("t", ["b"], unique=True, name="t_b_uniq"),  # a unique index enforces without being read
        index("t", ["c"], scans=None),  # unknown counter
        index("t", ["d"], valid=False),  # IX04's job
        index(
            "t", ["(a + b)"], name="t_excl", constraint="t_excl", constraint_type="exclusion", method="gist"
        ),
    )
    assert hits("IX01", s) == []


def test_unused_index_judges_partitions_not_partitioned_parents() -> None:
    s = snap(
        table("events", ["id", "kind"], kind="partitioned", seq_scan=None),
        table("events_2026", ["id", "kind"], is_partition=True, parent="public.events", seq_scan=300),
        index("events", ["kind"], name="events_kind_idx", scans=0),
        index("events_2026", ["kind"], name="events_2026_kind_idx", scans=0, partition_child=True),
    )
    found = hits("IX01", s)
    assert names(found) == ["events_2026_kind_idx"]
    # an attached partition index cannot be dropped alone (a snapshot that does not name its parent index)
    assert found[0].remediation is None


def test_unused_index_judges_an_attached_index_with_its_parent_over_all_partitions() -> None:
    def parts(*scans: int) -> list[SnapObject]:
        out: list[SnapObject] = [table("events", ["id", "kind"], kind="partitioned", seq_scan=None)]
        for n, count in enumerate(scans):
            out += [table(f"events_{n}", ["id", "kind"], is_partition=True, parent="public.events"),
                    index(f"events_{n}", ["kind"], name=f"events_{n}_kind_idx", scans=count, size_bytes=8192,
                          parent_index="events_kind_idx")]
        return [*out, index("events", ["kind"], name="events_kind_idx", scans=None, size_bytes=0)]

    # scanned on the current partition only: the old ones are pruned by design, the parent index is in use
    assert hits("IX01", snap(parts(0, 0, 5))) == []
    (found,) = hits("IX01", snap(parts(0, 0, 0)))
    assert names([found]) == ["events_kind_idx"]
    # no CONCURRENTLY on a partitioned table: the fix says what the plain DROP locks (rt: BRIN on audit.events)
    assert found.remediation == (
        "-- public.events is partitioned: PostgreSQL refuses DROP INDEX CONCURRENTLY here, and this DROP holds an "
        "ACCESS EXCLUSIVE lock on it and on each of its 3 partitions (reads and writes wait) until it ends: run it "
        "at a quiet hour with a short lock_timeout, so that it gives up rather than queue behind a long "
        "transaction\nDROP INDEX public.events_kind_idx;")
    assert found.details["index_bytes"] == 3 * 8192 and found.details["partitions"] == 3


def test_unused_index_stats_age_edge() -> None:
    objects = (table("t", ["id", "a"], seq_scan=0, idx_scan=0), index("t", ["a"], name="t_a_idx"))
    seven = timedelta(days=7)
    assert names(hits("IX01", snap(*objects, stats_age=seven))) == ["t_a_idx"]
    assert hits("IX01", snap(*objects, stats_age=seven - timedelta(seconds=1))) == []
    assert hits("IX01", snap(*objects, stats_age=None)) == []
    assert names(hits("IX01", snap(*objects, stats_age=timedelta(days=2)), UnusedIndexOptions(2.0, 100))) == [
        "t_a_idx"
    ]


def test_unused_index_on_young_stats_needs_table_reads_and_is_info() -> None:
    def young(reads: int, seq: int = 0) -> list[Hit]:
        return hits(
            "IX01",
            snap(
                table("t", ["id", "a", "b"], seq_scan=seq, idx_scan=reads),
                index("t", ["a"], name="t_a_idx"),
                index("t", ["b"], name="t_b_idx", scans=reads),
                stats_age=timedelta(hours=3),
                stats_reset=False,
            ),
        )

    assert young(99) == []
    # sequential scans are what dbaudit's own sampling makes: however many, they are no evidence
    assert young(0, seq=10_000) == []
    found = young(100)
    assert names(found) == ["t_a_idx"]  # t_b_idx was scanned
    assert found[0].severity is Severity.INFO
    assert "in the 3 h since the server started on 2026-11-24" in found[0].message


def test_unused_index_young_stats_leave_out_constraint_lookups_from_the_evidence() -> None:
    # a freshly loaded parent: its primary key and unique index were looked up by foreign key checks while
    # child rows were loaded; only sequential scans and the other index's scans were queries' choices
    def young(seq: int, other: int) -> list[Hit]:
        return hits(
            "IX01",
            snap(
                table("invoices", ["id", "number", "status", "account_id"], seq_scan=seq, idx_scan=126_000),
                pk("invoices", scans=120_000),
                index("invoices", ["number"], name="invoices_number_uidx", unique=True, scans=6_000),
                index("invoices", ["account_id"], name="invoices_account_idx", scans=other),
                index("invoices", ["status"], name="invoices_status_idx"),
                stats_age=timedelta(hours=1),
            ),
        )

    assert young(seq=5_000, other=99) == []
    (hit,) = young(seq=0, other=100)
    assert hit.object.index == "invoices_status_idx"
    assert hit.details["table_scans"] == 100
    assert "while queries scanned the table's other indexes 100 times" in hit.message


def test_unused_index_evidence_leaves_out_each_index_itself_on_a_table_with_several_unused() -> None:
    # the table's figures are summed once and each unused index takes out its own: both count the other
    # (0 scans) and the used one (7), never the primary key's lookups
    s = snap(
        table("orders", ["id", "a", "b", "c"], idx_scan=507),
        pk("orders", scans=500),
        index("orders", ["a"], name="orders_a_idx", scans=0),
        index("orders", ["b"], name="orders_b_idx", scans=0),
        index("orders", ["c"], name="orders_c_idx", scans=7),
        stats_age=timedelta(days=12),
    )
    found = hits("IX01", s)
    assert names(found) == ["orders_a_idx", "orders_b_idx"]
    assert [h.details["table_scans"] for h in found] == [7, 7]
    # alone with the primary key, an unused index has no evidence from other indexes at all
    (alone,) = hits("IX01", snap(table("t", ["id", "a"]), pk("t", scans=9),
                                 index("t", ["a"], name="t_a_idx", scans=0), stats_age=timedelta(days=12)))
    assert alone.details["table_scans"] is None


def test_unused_index_that_alone_covers_a_foreign_key_gets_no_drop_statement() -> None:
    s = snap(
        table("customers"),
        table("orders", ["id", "customer_id"], seq_scan=500),
        fk("orders", ["customer_id"], "customers"),
        index("orders", ["customer_id"], name="orders_customer_idx"),
    )
    (hit,) = hits("IX01", s)
    assert hit.remediation is None
    assert "orders_customer_id_fkey" in hit.message


def test_unused_index_remediation_on_mysql() -> None:
    s = snap(
        table("t", ["id", "a"], schema="shop"), index("t", ["a"], name="a", schema="shop"), engine="mysql"
    )
    (hit,) = hits("IX01", s)
    assert hit.remediation == "ALTER TABLE `shop`.`t` DROP INDEX `a`;"


# ---- IX02 duplicate-index ----------------------------------------------------------------------------------


def test_duplicate_index_keeps_the_most_scanned_and_reports_the_other() -> None:
    s = snap(
        table("users", ["id", "email text"]),
        index("users", ["email"], name="users_email_a", scans=3),
        index("users", ["email"], name="users_email_b", scans=40),
    )
    (hit,) = hits("IX02", s)
    assert hit.object.index == "users_email_a"
    assert hit.details["duplicate_of"] == "users_email_b"
    assert hit.remediation == "DROP INDEX CONCURRENTLY public.users_email_a;"


def test_duplicate_index_never_proposes_dropping_the_constraint_index() -> None:
    s = snap(
        table("users", ["id", "email text"]),
        pk("users"),
        index("users", ["id"], name="aaa_users_id", scans=1000),
        unique("users", ["email"]),
        index("users", ["email"], unique=True, name="aaa_users_email_uniq", scans=500),
        index("users", ["email"], name="users_email_plain", scans=900),
    )
    found = {h.object.index or "": h for h in hits("IX02", s)}
    assert sorted(found) == ["aaa_users_email_uniq", "aaa_users_id", "users_email_plain"]
    assert found["aaa_users_id"].details["duplicate_of"] == "users_pkey"
    assert found["aaa_users_email_uniq"].details["duplicate_of"] == "users_email_key"
    assert found["users_email_plain"].details["duplicate_of"] == "users_email_key"


def test_duplicate_constraint_indexes_are_reported_without_a_drop() -> None:
    s = snap(table("t"), pk("t"), unique("t", ["id"], name="t_id_key"))
    (hit,) = hits("IX02", s)
    assert hit.object.index in ("t_id_key", "t_pkey")
    assert hit.remediation is None
    assert "constraint" in hit.message


def test_duplicate_index_look_alikes_stay_silent() -> None:
    s = snap(
        table("t", ["id", "a", "b"]),
        index("t", ["a"], name="plain"),
        index("t", ["(lower(a))"], name="expression"),
        index("t", ["a"], name="partial", predicate="(b > 0)"),
        index("t", ["a"], name="partial_other", predicate="(b < 0)"),
        # direction flipped but NULLS not: read backwards it is (a NULLS FIRST), another order than (a)
        index("t", ["a DESC NULLS LAST"], name="descending_nulls_last"),
        index("t", [IndexKey("a", opclass="text_pattern_ops")], name="pattern_ops"),
        index("t", [IndexKey("a", collation="C")], name="collated"),
        index("t", ["a"], name="hashed", method="hash"),
        index("t", ["a"], name="covering", include=["b"]),
        index("t", ["a"], name="broken", valid=False),
        index("t", ["a", "b"], name="wider"),
    )
    assert hits("IX02", s) == []


def test_duplicate_index_read_backwards_is_a_duplicate() -> None:
    s = snap(
        table("invoices", ["id", "issued_at", "due_at", "total"]),
        index("invoices", ["issued_at"], name="invoices_issued_idx"),
        index("invoices", ["issued_at DESC"], name="invoices_issued_desc_idx"),
        index("invoices", ["due_at DESC", "total DESC"], name="due_total_desc", scans=3),
        index("invoices", ["due_at", "total"], name="due_total"),
    )
    found = {h.object.index: h for h in hits("IX02", s)}
    assert set(found) == {"invoices_issued_desc_idx", "due_total"}
    hit = found["invoices_issued_desc_idx"]
    assert hit.details["duplicate_of"] == "invoices_issued_idx"
    assert "read backwards" in hit.message
    # mixed directions are another order, in both column counts
    mixed = snap(
        table("t", ["id", "a", "b"]),
        index("t", ["a", "b"], name="a_b"),
        index("t", ["a", "b DESC"], name="a_b_desc"),
        index("t", ["a DESC", "b"], name="a_desc_b"),
    )
    assert names(hits("IX02", mixed)) == ["a_desc_b"]  # (a DESC, b) read backwards is (a, b DESC)
    # hash indexes have no order to read backwards
    hashed = snap(
        table("t", ["id", "a"]),
        index("t", ["a"], name="h1", method="gist"),
        index("t", ["a DESC"], name="h2", method="gist"),
    )
    assert hits("IX02", hashed) == []


def test_duplicate_index_read_backwards_on_mysql_ignores_nulls_order() -> None:
    s = snap(
        table("t", ["id", "a"]),
        index("t", ["a"], name="a_asc", scans=1),
        index("t", [IndexKey("a", descending=True)], name="a_desc"),
        engine="mysql",
    )
    assert names(hits("IX02", s)) == ["a_desc"]


def test_duplicate_partial_indexes_with_the_same_predicate_are_duplicates() -> None:
    s = snap(
        table("t", ["id", "a", "b"]),
        index("t", ["a"], name="p1", predicate="(b > 0)"),
        index("t", ["a"], name="p2", predicate="(b > 0)"),
    )
    assert names(hits("IX02", s)) == ["p2"]


def test_duplicate_index_on_partitioned_table_drops_without_concurrently() -> None:
    s = snap(
        table("ev", ["id", "a"], kind="partitioned"),
        table("ev_1", ["id", "a"], is_partition=True, parent="public.ev"),
        index("ev", ["a"], name="ev_a1"),
        index("ev", ["a"], name="ev_a2"),
        index("ev_1", ["a"], name="ev_1_a1", partition_child=True),
        index("ev_1", ["a"], name="ev_1_a2", partition_child=True),
    )
    (hit,) = hits("IX02", s)
    assert hit.remediation.splitlines()[-1] == "DROP INDEX public.ev_a2;"  # type: ignore[union-attr]
    assert "ACCESS EXCLUSIVE lock on it and on each of its 1 partition " in hit.remediation  # type: ignore[operator]


# ---- IX03 redundant-index ----------------------------------------------------------------------------------


def test_redundant_index_fires_on_leading_prefix() -> None:
    s = snap(
        table("orders", ["id", "customer_id", "created_at"]),
        index("orders", ["customer_id"], name="orders_customer_idx"),
        index("orders", ["customer_id", "created_at"], name="orders_customer_created_idx"),
    )
    (hit,) = hits("IX03", s)
    assert hit.object.index == "orders_customer_idx"
    assert hit.details["covered_by"] == "orders_customer_created_idx"
    assert hit.remediation == "DROP INDEX CONCURRENTLY public.orders_customer_idx;"


def test_redundant_index_is_covered_by_a_primary_key() -> None:
    s = snap(table("line", ["order_id", "n"]), pk("line", ["order_id", "n"]), index("line", ["order_id"]))
    assert [h.details["covered_by"] for h in hits("IX03", s)] == ["line_pkey"]


def test_redundant_index_same_keys_with_more_include_columns() -> None:
    s = snap(
        table("payments", ["id", "paid_at", "amount", "method"]),
        index("payments", ["paid_at"], name="payments_paid_at_idx"),
        index("payments", ["paid_at"], name="payments_paid_at_amount_idx", include=["amount"]),
    )
    (hit,) = hits("IX03", s)
    assert hit.object.index == "payments_paid_at_idx"
    assert hit.details["covered_by"] == "payments_paid_at_amount_idx"
    assert "also INCLUDEs (amount)" in hit.message
    assert hit.remediation == "DROP INDEX CONCURRENTLY public.payments_paid_at_idx;"
    # look-alikes: a unique narrow index enforces something; INCLUDE sets that are not a strict superset;
    # another predicate
    silent = snap(
        table("t", ["id", "a", "b", "c"]),
        index("t", ["a"], name="a_uniq", unique=True),
        index("t", ["a"], name="a_inc_b", include=["b"]),
        index("t", ["a"], name="a_inc_c", include=["c"]),
        index("t", ["b"], name="b_partial", predicate="(c > 0)"),
        index("t", ["b"], name="b_inc_c", include=["c"]),
    )
    assert hits("IX03", silent) == []


def test_redundant_index_prefix_read_backwards() -> None:
    s = snap(
        table("t", ["id", "a", "b"]),
        index("t", ["a DESC"], name="a_desc"),
        index("t", ["a", "b"], name="a_b"),
    )
    assert names(hits("IX03", s)) == ["a_desc"]


def test_redundant_index_mysql_prefix_keys() -> None:
    def redundant(*indexes: Any) -> dict[str, str]:
        s = snap(table("t", ["id", "name varchar(80)", "x"], schema="shop"), *indexes, engine="mysql")
        return {str(h.object.index): h.details["covered_by"] for h in hits("IX03", s)}

    shop = {"schema": "shop"}
    assert redundant(index("t", ["name(10)"], name="p10", **shop), index("t", ["name"], name="full", **shop)) == {
        "p10": "full"}
    # a longer prefix serves a shorter one, never the other way round; the edge: equal lengths are IX02's
    assert redundant(index("t", ["name(9)"], name="p9", **shop), index("t", ["name(10)"], name="p10", **shop)) == {
        "p9": "p10"}
    assert redundant(index("t", ["name(10)"], name="a", **shop), index("t", ["name(10)"], name="b", **shop)) == {}
    assert redundant(index("t", ["name(10)", "x"], name="px", **shop), index("t", ["name", "x"], name="fx", **shop)
                     ) == {"px": "fx"}
    # look-alikes: the whole column beside a prefix, a prefix beside another column, a unique prefix
    assert redundant(index("t", ["name"], name="full", **shop), index("t", ["name(10)", "x"], name="px", **shop)) == {}
    assert redundant(index("t", ["name(10)"], name="p10", **shop), index("t", ["x", "name"], name="xn", **shop)) == {}
    assert redundant(index("t", ["name(10)"], name="u", unique=True, **shop),
                     index("t", ["name"], name="full", **shop)) == {}


def test_redundant_index_look_alikes_stay_silent() -> None:
    s = snap(
        table("t", ["id", "a", "b", "c"]),
        index("t", ["a", "b", "c"], name="wide"),
        unique("t", ["a"]),  # a unique index is never redundant
        index("t", ["a"], unique=True, name="a_uniq"),
        index("t", ["b"], name="not_leading"),
        index("t", ["a", "b", "c"], name="equal_is_ix02"),
        index("t", ["a DESC NULLS LAST"], name="other_order"),
        index("t", [IndexKey("a", opclass="text_pattern_ops")], name="other_opclass"),
        index("t", ["a"], name="partial", predicate="(c > 0)"),
        index("t", ["a"], name="hashed", method="hash"),
        index("t", ["(lower(a))"], name="expression"),
        index("t", ["a"], name="covering", include=["id"]),
    )
    assert hits("IX03", s) == []


def test_redundant_index_needs_the_same_predicate_and_a_valid_wider_index() -> None:
    s = snap(
        table("t", ["id", "a", "b"]),
        index("t", ["a"], name="narrow_partial", predicate="(b > 0)"),
        index("t", ["a", "b"], name="wide_partial", predicate="(b > 0)"),
        index("t", ["id"], name="narrow_full"),
        index("t", ["id", "a"], name="wide_invalid", valid=False),
    )
    assert names(hits("IX03", s)) == ["narrow_partial"]


# ---- IX04 invalid-index ------------------------------------------------------------------------------------


def test_invalid_index_fires_with_reindex() -> None:
    s = snap(table("t", ["id", "a"]), index("t", ["a"], name="t_a_idx", valid=False), index("t", ["id"]))
    (hit,) = hits("IX04", s)
    assert hit.object.index == "t_a_idx"
    assert hit.remediation == "REINDEX INDEX CONCURRENTLY public.t_a_idx;"
    old = snap(
        table("t", ["id", "a"]), index("t", ["a"], name="t_a_idx", valid=False), server_version_num=110000
    )
    assert hits("IX04", old)[0].remediation == "DROP INDEX CONCURRENTLY public.t_a_idx;"


def test_invalid_unique_index_asks_to_resolve_duplicates_before_the_rebuild() -> None:
    s = snap(
        table("products", ["id", "name", "sku"]),
        index("products", ["name"], name="products_name_uidx", unique=True, valid=False),
        index("products", ["sku", "(lower(name))"], name="partial_uidx", unique=True, valid=False,
              predicate="(id > 0)"),
    )
    found = {h.object.index: h for h in hits("IX04", s)}
    hit = found["products_name_uidx"]
    assert "failed on duplicate values" in hit.message
    assert hit.remediation == (
        "-- the key values held more than once: resolve them before rebuilding\n"
        "SELECT name, count(*) FROM public.products WHERE name IS NOT NULL GROUP BY name HAVING count(*) > 1;\n"
        "-- once the query above returns no row, rebuild it (over duplicates the rebuild fails and leaves an "
        "invalid products_name_uidx_ccnew copy behind):\n"
        "-- REINDEX INDEX CONCURRENTLY public.products_name_uidx;\n"
        "-- or, where the duplicates are legitimate: DROP INDEX CONCURRENTLY public.products_name_uidx;"
    )
    partial = found["partial_uidx"].remediation or ""
    assert (
        "SELECT sku, (lower(name)), count(*) FROM public.products WHERE sku IS NOT NULL AND (lower(name)) IS NOT "
        "NULL AND ((id > 0)) GROUP BY sku, (lower(name)) HAVING count(*) > 1;"
    ) in partial
    # the look-alike: a non-unique invalid index is rebuilt straight away
    (plain,) = hits("IX04", snap(table("t", ["id", "a"]), index("t", ["a"], name="t_a_idx", valid=False)))
    assert plain.remediation == "REINDEX INDEX CONCURRENTLY public.t_a_idx;"
    assert "duplicate" not in plain.message


def test_the_copy_a_failed_reindex_left_is_dropped_not_rebuilt() -> None:
    # rt18: REINDEX CONCURRENTLY of a unique index over legitimate duplicates failed and left <name>_ccnew
    s = snap(table("customers", ["id", "zip"]),
             index("customers", ["zip"], name="customers_zip_key", unique=True, valid=False),
             index("customers", ["zip"], name="customers_zip_key_ccnew", unique=True, valid=False),
             index("customers", ["zip"], name="customers_zip_key_ccnew1", unique=True, valid=False))
    found = {h.object.index: h for h in hits("IX04", s)}
    for copy in ("customers_zip_key_ccnew", "customers_zip_key_ccnew1"):
        assert found[copy].remediation == f"DROP INDEX CONCURRENTLY public.{copy};"
        assert "failed REINDEX CONCURRENTLY of customers_zip_key left behind" in found[copy].message
        assert "duplicate" not in found[copy].message
    assert (found["customers_zip_key"].remediation or "").startswith("-- the key values held more than once")


# ---- IX05 missing-fk-index ---------------------------------------------------------------------------------


def test_missing_fk_index_fires_with_create_index() -> None:
    s = snap(
        table("customers"),
        table("orders", ["id", "customer_id"], rows=120000),
        pk("orders"),
        fk("orders", ["customer_id"], "customers", on_delete="cascade"),
        index("orders", ["id", "customer_id"], name="not_leading"),
        index("orders", ["customer_id"], name="partial", predicate="(customer_id > 0)"),
        index("orders", ["customer_id"], name="invalid", valid=False),
        index("orders", ["(customer_id + 0)"], name="expression"),
    )
    (hit,) = hits("IX05", s)
    assert hit.object.type == "foreign_key"
    assert hit.object.columns == ("customer_id",)
    assert hit.object.constraint == "orders_customer_id_fkey"
    assert hit.details == {"table_rows": 120000, "references": "public.customers(id)", "on_delete": "cascade"}
    assert hit.message == "public.orders(customer_id) references public.customers but no index leads with it"
    assert hit.remediation == (
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"
    )


def test_missing_fk_index_composite_judged_as_a_whole_any_order() -> None:
    parent = (table("p", ["a", "b"]), pk("p", ["a", "b"]))
    child = table("c", ["id", "a", "b", "x"])
    key = fk("c", ["a", "b"], "p", ["a", "b"])
    covered: list[list[Any]] = [
        [index("c", ["b", "a"])],
        [index("c", ["a", "b", "x"])],
        [pk("c", ["a", "b", "id"])],
        [unique("c", ["b", "a"])],
    ]
    for extra in covered:
        assert hits("IX05", snap(*parent, child, key, *extra)) == [], extra
    not_covered: list[list[Any]] = [
        [],
        [index("c", ["a"])],
        [index("c", ["a", "x", "b"])],
        [index("c", ["x", "a", "b"])],
    ]
    for extra in not_covered:
        assert len(hits("IX05", snap(*parent, child, key, *extra))) == 1, extra


def test_missing_fk_index_partial_index_counts_only_when_the_lookup_implies_its_predicate() -> None:
    parent = (table("p", ["a", "b"]), pk("p", ["a", "b"]))
    child = table("c", ["id", "a", "b", "deleted_at timestamptz"])
    key = fk("c", ["a", "b"], "p", ["a", "b"])
    implied = ["(a IS NOT NULL)", "((b IS NOT NULL) AND (a IS NOT NULL))", '("a" IS NOT NULL)']
    for predicate in implied:
        assert hits("IX05", snap(*parent, child, key, index("c", ["b", "a"], predicate=predicate))) == [], predicate
    not_implied = ["((a IS NOT NULL) OR (b IS NOT NULL))", "(deleted_at IS NULL)", "(a > 0)",
                   "((a IS NOT NULL) AND (deleted_at IS NULL))", "(id IS NOT NULL)", "(a IS NULL)"]
    for predicate in not_implied:
        found = hits("IX05", snap(*parent, child, key, index("c", ["b", "a"], predicate=predicate)))
        assert len(found) == 1, predicate


def test_missing_fk_index_judges_partitioned_parent_not_its_partitions() -> None:
    s = snap(
        table("customers"),
        table("ev", ["id", "customer_id"], kind="partitioned"),
        table("ev_1", ["id", "customer_id"], is_partition=True, parent="public.ev"),
        fk("ev", ["customer_id"], "customers"),
        fk("ev_1", ["customer_id"], "customers", name="ev_customer_id_fkey"),
    )
    (hit,) = hits("IX05", s)
    assert hit.object.table == "ev"
    # ON ONLY the parent, then each partition CONCURRENTLY and attached: no write waits for the whole table
    assert hit.remediation == (
        "CREATE INDEX ev_customer_id_idx ON ONLY public.ev (customer_id);\n"
        "CREATE INDEX CONCURRENTLY ev_1_customer_id_idx ON public.ev_1 (customer_id);\n"
        "ALTER INDEX public.ev_customer_id_idx ATTACH PARTITION public.ev_1_customer_id_idx;"
    )


def test_missing_fk_index_partitioned_table_covered_when_every_partition_has_an_index() -> None:
    def parts(*indexed: bool) -> Snapshot:
        objects: list[Any] = [
            table("users"),
            table("req", ["user_id", "status"], kind="partitioned"),
            fk("req", ["user_id"], "users"),
        ]
        for i, has_index in enumerate(indexed):
            objects.append(table(f"req_{i}", ["user_id", "status"], is_partition=True, parent="public.req"))
            if has_index:
                objects.append(index(f"req_{i}", ["user_id"], name=f"req_{i}_user_idx"))
        return snap(*objects)

    assert hits("IX05", parts(True, True)) == []
    (hit,) = hits("IX05", parts(True, False))  # one partition without: its lookups scan it
    assert hit.object.table == "req"
    assert len(hits("IX05", parts())) == 1  # no partition at all proves nothing


def test_missing_fk_index_avoids_taken_names_and_quotes() -> None:
    s = snap(
        table("customers", schema="My Schema"),
        table("order", ["id", "user id"], schema="My Schema"),
        fk("order", ["user id"], "customers", schema="My Schema"),
        index("order", ["id"], name="order_user_id_idx", schema="My Schema"),
    )
    (hit,) = hits("IX05", s)
    assert hit.remediation == (
        'CREATE INDEX CONCURRENTLY order_user_id_idx1 ON "My Schema"."order" ("user id");'
    )
    # the same name in another schema takes nothing: index names are unique per schema
    elsewhere = snap(
        table("customers", schema="My Schema"),
        table("order", ["id", "user id"], schema="My Schema"),
        fk("order", ["user id"], "customers", schema="My Schema"),
        table("order", ["id"]),
        index("order", ["id"], name="order_user_id_idx"),
    )
    (hit,) = hits("IX05", elsewhere)
    assert hit.remediation == 'CREATE INDEX CONCURRENTLY order_user_id_idx ON "My Schema"."order" ("user id");'


def _lookup(name: str, rows: int | None, **stats: int | None) -> Table:
    return dataclasses.replace(table(name, rows=rows), stats=TableStats(**stats))


def test_missing_fk_index_to_a_static_small_lookup_table_is_info_with_the_index_as_a_comment() -> None:
    def subscriptions(plans: Table, stats_age: timedelta | None = timedelta(days=30)) -> list[Hit]:
        return hits("IX05", snap(plans, pk("plans"), table("subscriptions", ["id", "plan_id"], rows=500000),
                                 pk("subscriptions"), fk("subscriptions", ["plan_id"], "plans"),
                                 stats_age=stats_age))

    (hit,) = subscriptions(_lookup("plans", 4, n_tup_del=0, n_tup_upd=0, n_tup_hot_upd=0))
    assert hit.severity is Severity.INFO
    assert hit.message == (
        "public.subscriptions(plan_id) references public.plans but no index leads with it; public.plans is a small "
        "lookup table (4 rows) that no statement deleted from or changed the key of in the 30 days since "
        "statistics were reset on 2026-10-25: the index only matters if its rows are deleted or their keys changed "
        "(each such statement scans subscriptions), or for queries that read few rows of subscriptions by (plan_id)"
    )
    assert hit.details["referenced_rows"] == 4
    assert hit.remediation == (
        "-- only if rows of the lookup table get deleted or their keys changed:\n"
        "-- CREATE INDEX CONCURRENTLY subscriptions_plan_id_idx ON public.subscriptions (plan_id);"
    )
    # updates that were all HOT changed no indexed column, so no key: a price or a label edited
    (hot,) = subscriptions(_lookup("plans", 4, n_tup_del=0, n_tup_upd=3, n_tup_hot_upd=3))
    assert hot.severity is Severity.INFO
    # never analyzed (no estimate): the live rows counted decide
    (fresh,) = subscriptions(_lookup("plans", None, n_tup_del=0, n_tup_upd=0, n_live_tup=4))
    assert fresh.severity is Severity.INFO

    # look-alikes that keep the warning and its CREATE INDEX
    warned = [
        _lookup("plans", 4, n_tup_del=1, n_tup_upd=0),  # a row deleted: its lookup scanned subscriptions
        _lookup("plans", 4, n_tup_del=0, n_tup_upd=3, n_tup_hot_upd=2),  # a non-HOT update may change the key
        _lookup("plans", 4),  # counters unknown (a partitioned table's, or not read)
        _lookup("plans", 4, n_tup_del=0, n_tup_upd=None),
        _lookup("plans", None, n_tup_del=0, n_tup_upd=0),  # no estimate, no live rows
        _lookup("plans", 1001, n_tup_del=0, n_tup_upd=0),  # past the threshold
    ]
    for plans in warned:
        (hit,) = subscriptions(plans)
        assert hit.severity is None and hit.remediation is not None, plans.stats
        assert hit.remediation.startswith("CREATE INDEX CONCURRENTLY"), plans.stats
    static = _lookup("plans", 4, n_tup_del=0, n_tup_upd=0)
    for young in (timedelta(days=6, hours=23), None):  # statistics too young, or of unknown age
        (hit,) = subscriptions(static, stats_age=young)
        assert hit.severity is None, young


def test_missing_fk_index_lookup_table_threshold_edges() -> None:
    def severity(rows: int, stats_age: timedelta, opts: MissingFkIndexOptions | None = None) -> Severity | None:
        (hit,) = hits("IX05", snap(_lookup("countries", rows, n_tup_del=0, n_tup_upd=0), pk("countries"),
                                   table("customers", ["id", "country_id"]), pk("customers"),
                                   fk("customers", ["country_id"], "countries"), stats_age=stats_age),
                      opts)
        return hit.severity

    week = timedelta(days=7)
    assert severity(1000, week) is Severity.INFO
    assert severity(1001, week) is None
    assert severity(1000, week - timedelta(seconds=1)) is None
    assert severity(200, timedelta(days=1), MissingFkIndexOptions(min_stats_age_days=1)) is Severity.INFO
    assert severity(200, week, MissingFkIndexOptions(lookup_table_rows=100)) is None


def test_missing_fk_index_is_skipped_on_mysql() -> None:
    s = snap(table("p"), table("c", ["id", "p_id"]), fk("c", ["p_id"], "p"), engine="mysql")
    result = run_checks(s, [SPECS["IX05"]])
    assert result.findings == ()
    assert result.skipped[0].reason == "InnoDB creates an index for every foreign key by itself"


def test_unused_index_on_mysql_skips_fulltext_and_spatial_and_speaks_of_rows() -> None:
    # performance_schema records no reads for FULLTEXT/SPATIAL indexes even when MATCH queries use them
    s = snap(
        table("tickets", ["id", "subject", "status", "spot", "org_id"], seq_scan=None),
        pk("tickets", scans=5_000),
        index("tickets", ["subject"], name="ft_subject", method="fulltext"),
        index("tickets", ["spot"], name="sp_spot", method="spatial"),
        index("tickets", ["status"], name="ix_status"),
        index("tickets", ["org_id"], name="ix_org", scans=120),
        engine="mysql",
        stats_age=timedelta(hours=2),
        # performance_schema's COUNT_READ counts rows: the reads are the recorded statements' executions that
        # used an index (calls minus SUM_NO_INDEX_USED)
        statements=(Statement(queryid="d1", query="SELECT id FROM tickets WHERE org_id = ?", calls=130,
                              no_index_calls=10, rows_examined=400),),
        workload=WorkloadInfo(source="performance_schema"),
    )
    (hit,) = hits("IX01", s)
    assert hit.object.index == "ix_status"
    assert "read no rows" in hit.message
    assert hit.message == (
        "public.ix_status on tickets read no rows in the 2 h since statistics were reset on 2026-11-24, while "
        "recorded statements read the table through an index 120 times (120 rows read through its other indexes)")
    # counting since the server started (or a truncation nothing records): the window's own clause, then a comma
    (started,) = hits("IX01", dataclasses.replace(s, stats_reset=None, server_started=s.stats_reset))
    assert started.message.endswith(
        "or since performance_schema's counters were last truncated, whichever is later, while recorded statements "
        "read the table through an index 120 times (120 rows read through its other indexes)"), started.message
    assert hit.details["table_scans"] == 120 and hit.details["table_rows_read"] == 120
    # the same rows read by 99 reads: below min_table_scans
    fewer = dataclasses.replace(s, statements=(dataclasses.replace(s.statements[0], calls=109),))
    assert hits("IX01", fewer) == []


RESCANNED = """
CREATE TABLE quiet (id int PRIMARY KEY, a int, b int);
INSERT INTO quiet SELECT g, g % 10, g % 7 FROM generate_series(1, 2000) g;
CREATE INDEX quiet_a_idx ON quiet (a);
CREATE INDEX quiet_b_idx ON quiet (b);
CREATE TABLE busy (id int PRIMARY KEY, a int, b int);
INSERT INTO busy SELECT g, g, g % 7 FROM generate_series(1, 2000) g;
CREATE INDEX busy_a_idx ON busy (a);
CREATE INDEX busy_b_idx ON busy (b);
ANALYZE;
"""


def test_unused_index_rescans_do_not_make_findings_appear(pg_new_db: NewDb) -> None:
    # every scan samples every table with sequential reads: 20 scans of the same database once pushed quiet's
    # seq_scan past min_table_scans and reported both its indexes; only busy's unused index has evidence
    dsn = pg_new_db(RESCANNED)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(90):  # short of min_table_scans: 10 scans' sampling once made up the difference
            conn.execute("SELECT count(*) FROM quiet")
        conn.execute("SET enable_seqscan = off")
        for i in range(120):
            conn.execute("SELECT id FROM busy WHERE a = %s", (i,))
    young = {"IX01": UnusedIndexOptions(min_stats_age_days=36500)}
    spec = [SPECS["IX01"]]

    def unused() -> set[str]:
        snapshot = collect(parse_dsn(dsn), CollectOptions(workload=False))
        return {str(f.object.index) for f in run_checks(snapshot, spec, options=young).findings}

    first = unused()
    assert first == {"busy_b_idx"}
    for _ in range(19):
        collect(parse_dsn(dsn), CollectOptions(workload=False))
    assert unused() == first


LOOKUPS = """
CREATE TABLE plans (id int PRIMARY KEY, label text);
INSERT INTO plans SELECT g, 'plan ' || g FROM generate_series(1, 4) g;
UPDATE plans SET label = upper(label) WHERE id = 2;  -- HOT: no indexed column changed
CREATE TABLE order_status (id int PRIMARY KEY, label text);
INSERT INTO order_status SELECT g, 'status ' || g FROM generate_series(1, 5) g;
DELETE FROM order_status WHERE id = 5;
CREATE TABLE subscriptions (id int PRIMARY KEY, plan_id int REFERENCES plans);
INSERT INTO subscriptions SELECT g, g % 4 + 1 FROM generate_series(1, 2000) g;
CREATE TABLE orders (id int PRIMARY KEY, status_id int REFERENCES order_status);
INSERT INTO orders SELECT g, g % 4 + 1 FROM generate_series(1, 2000) g;
"""


def test_missing_fk_index_to_static_lookup_table_is_info_on_a_real_server(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(LOOKUPS)
    # the setup's backend hands its counters over as it exits: wait for them
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(100):
            row = conn.execute("SELECT (SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'plans'),"
                               " (SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'order_status')"
                               ).fetchone()
            if row == (1, 1):
                break
            conn.execute("SELECT pg_sleep(0.05), pg_stat_clear_snapshot()")
        assert row == (1, 1)
    snapshot = collect(parse_dsn(dsn), CollectOptions(workload=False, sample=False))
    # the server started a moment ago: the statistics' age is waived here, the unit tests judge it
    options = {"IX05": MissingFkIndexOptions(min_stats_age_days=0)}
    found = {f.object.table: f for f in run_checks(snapshot, [SPECS["IX05"]], options=options).findings}
    assert set(found) == {"subscriptions", "orders"}
    static, deleted = found["subscriptions"], found["orders"]
    assert static.severity is Severity.INFO
    assert "public.plans is a small lookup table (4 rows)" in static.message
    assert static.remediation is not None and static.remediation.startswith("-- only if")
    assert deleted.severity is Severity.WARNING
    assert deleted.remediation == "CREATE INDEX CONCURRENTLY orders_status_id_idx ON public.orders (status_id);"
    # at the default age the young statistics keep both warnings
    young = run_checks(snapshot, [SPECS["IX05"]]).findings
    assert {f.severity for f in young} == {Severity.WARNING}
