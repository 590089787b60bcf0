"""KY01-KY04 on tiny snapshots: each check fires on its planted case and stays silent on the look-alike."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from auditor.engine import iter_hits, load_checks
from auditor.model import Column, ColumnRef, Constraint, Hit, Severity, Snapshot
from checks.keys import SequenceExhaustionOptions, integer_range
from tests.builders import check_constraint, fk, index, pk, sequence, snap, table, unique

SPECS = load_checks()
INT_MAX = 2**31 - 1


def hits(code: str, snapshot: Snapshot, opts: Any = None) -> list[Hit]:
    return list(iter_hits(SPECS[code], snapshot, opts))


# ---- KY01 no-primary-key -----------------------------------------------------------------------------------


def test_no_primary_key_fires_on_plain_table_and_names_a_promotable_key() -> None:
    s = snap(
        table("log", ["at timestamptz", "msg text"]),
        table("codes", ["code text", "label text"], not_null=["code"]),
        unique("codes", ["code"]),
        table("with_pk"),
        pk("with_pk"),
        table("ev", kind="partitioned"),
        pk("ev"),
        table("ev_1", is_partition=True, parent="public.ev"),  # judged through its parent
        table("v", kind="view"),
        table("ft", kind="foreign"),
    )
    found = {h.object.table or "": h for h in hits("KY01", s)}
    assert sorted(found) == ["codes", "log"]
    assert found["log"].message == "public.log has no primary key"
    assert "codes_code_key could be promoted" in found["codes"].message


def test_no_primary_key_does_not_promote_a_nullable_unique_key() -> None:
    s = snap(table("codes", ["code text"]), unique("codes", ["code"]))
    (hit,) = hits("KY01", s)
    assert hit.details["promotable_key"] is None
    # no key to promote: what to decide, with placeholders, no invented column
    assert hit.remediation is not None and "ADD PRIMARY KEY (<columns>)" in hit.remediation
    assert all(line.startswith("--") for line in hit.remediation.splitlines())


def test_no_primary_key_fix_promotes_the_key_on_each_engine() -> None:
    tables = (table("codes", ["code text"], not_null=["code"]), unique("codes", ["code"]),
              table("t", ["a int", "b int"], not_null=["a", "b"]), index("t", ["a", "b"], name="uq", unique=True),
              table("d", ["a int"], not_null=["a"]), index("d", ["a DESC"], name="d_uq", unique=True),
              table("p", ["a int"], not_null=["a"]), index("p", ["a"], name="p_uq", unique=True, method="hash"))
    fixes = {h.object.table: h.remediation for h in hits("KY01", snap(*tables))}
    assert fixes == {"codes": "ALTER TABLE public.codes ADD PRIMARY KEY (code);",
                     "t": "ALTER TABLE public.t ADD PRIMARY KEY USING INDEX uq;",
                     "d": "ALTER TABLE public.d ADD PRIMARY KEY (a);",
                     "p": "ALTER TABLE public.p ADD PRIMARY KEY (a);"}
    my = {h.object.table: h.remediation for h in hits("KY01", snap(*tables[:4], engine="mysql"))}
    assert my == {"codes": "ALTER TABLE `public`.`codes` DROP INDEX `codes_code_key`, ADD PRIMARY KEY (`code`);",
                  "t": "ALTER TABLE `public`.`t` DROP INDEX `uq`, ADD PRIMARY KEY (`a`, `b`);"}


def test_no_primary_key_does_not_promote_a_prefix_key() -> None:
    s = snap(table("t", ["name varchar(100)"], not_null=["name"]),
             index("t", ["name(10)"], name="uq", unique=True), engine="mysql")
    (hit,) = hits("KY01", s)
    assert hit.details["promotable_key"] is None


# ---- KY02 fk-type-mismatch ---------------------------------------------------------------------------------


def test_fk_type_mismatch_fires_per_column_pair() -> None:
    s = snap(
        table("customers", ["id bigint"]),
        table("orders", ["id bigint", "customer_id integer"]),
        fk("orders", ["customer_id"], "customers"),
    )
    (hit,) = hits("KY02", s)
    assert hit.severity is None  # warning
    assert hit.details["pairs"] == [
        {"column": "customer_id", "type": "integer", "ref_column": "id", "ref_type": "bigint"}
    ]
    assert hit.remediation == "ALTER TABLE public.orders ALTER COLUMN customer_id TYPE bigint;"


@pytest.mark.parametrize(
    ("mine", "theirs", "severity"),
    [
        ("text", "character varying(20)", None),
        ("numeric(10,2)", "numeric(12,2)", None),
        ("character varying(10)", "character varying(20)", Severity.INFO),
        ("character(2)", "character(3)", Severity.INFO),
    ],
)
def test_fk_type_mismatch_severity(mine: str, theirs: str, severity: Severity | None) -> None:
    s = snap(
        table("p", [f"code {theirs}"]),
        table("c", ["id", f"p_code {mine}"]),
        fk("c", ["p_code"], "p", ["code"]),
    )
    (hit,) = hits("KY02", s)
    assert hit.severity is severity


def test_fk_type_mismatch_into_a_table_outside_the_snapshot() -> None:
    # archive.legacy_customers was left out with --exclude-schema: the key carries the referenced types
    key = dataclasses.replace(
        fk("accounts", ["legacy_customer_id"], "legacy_customers", ref_schema="archive"),
        ref_column_types=("bigint",), ref_column_base_types=(None,),
    )
    s = snap(table("accounts", ["id bigint", "legacy_customer_id integer"]), key)
    (hit,) = hits("KY02", s)
    assert "archive.legacy_customers's: legacy_customer_id integer -> id bigint" in hit.message
    assert hit.details["references"] == "archive.legacy_customers"
    assert hit.remediation == "ALTER TABLE public.accounts ALTER COLUMN legacy_customer_id TYPE bigint;"
    matching = dataclasses.replace(key, ref_column_types=("integer",))
    assert hits("KY02", snap(table("accounts", ["id bigint", "legacy_customer_id integer"]), matching)) == []


def test_fk_type_mismatch_compares_the_type_under_a_domain() -> None:
    accounts = table("accounts", ["id bigint"])
    over_bigint = Column("account_id", "account_ref", base_type="bigint")
    key = fk("credits", ["account_id"], "accounts")
    assert hits("KY02", snap(accounts, table("credits", [over_bigint]), key)) == []
    # a domain over integer does differ, but retyping the column would drop its domain: no ALTER
    over_int = Column("account_id", "small_ref", base_type="integer")
    (hit,) = hits("KY02", snap(accounts, table("credits", [over_int]), key))
    assert "account_id small_ref (over integer) -> id bigint" in hit.message
    assert "small_ref is a domain" in hit.message
    assert hit.remediation is None
    assert hit.details["pairs"][0]["base_type"] == "integer"
    # the referenced side may be the domain, read from the key
    key = dataclasses.replace(fk("t", ["a"], "accounts"), ref_column_types=("account_ref",),
                              ref_column_base_types=("bigint",))
    assert hits("KY02", snap(accounts, table("t", ["a bigint"]), key)) == []


def test_fk_type_mismatch_never_proposes_narrowing_an_integer() -> None:
    s = snap(table("p", ["id integer"]), table("c", ["id", "p_id bigint"]), fk("c", ["p_id"], "p"))
    (hit,) = hits("KY02", s)
    assert hit.remediation is None


def test_fk_type_mismatch_composite_reports_only_differing_pairs() -> None:
    s = snap(
        table("p", ["a integer", "b text"]),
        table("c", ["a integer", "b character varying(5)"]),
        fk("c", ["a", "b"], "p", ["a", "b"]),
    )
    (hit,) = hits("KY02", s)
    assert [p["column"] for p in hit.details["pairs"]] == ["b"]


def test_fk_type_mismatch_judges_every_key_whatever_the_keys_before_it() -> None:
    # the check remembers the type pairs found to match: a matching pair met first must not hide a mismatch
    # on the next keys, and a pair spelled otherwise (int8 / bigint) matches as before
    s = snap(
        table("p", ["id bigint"]),
        table("a", ["p_id bigint"]),
        table("b", ["p_id integer"]),
        table("c", ["p_id int8"]),
        table("d", ["p_id integer"]),
        fk("a", ["p_id"], "p"),
        fk("b", ["p_id"], "p"),
        fk("c", ["p_id"], "p"),
        fk("d", ["p_id"], "p"),
    )
    assert [h.object.table for h in hits("KY02", s)] == ["b", "d"]


def test_fk_type_mismatch_look_alikes_stay_silent() -> None:
    s = snap(
        table("p", ["id bigint", "code character varying(20)"]),
        table("c", ["id", "p_id bigint", "p_code varchar(20)"]),
        fk("c", ["p_id"], "p"),
        fk("c", ["p_code"], "p", ["code"]),
        fk("c", ["p_id"], "elsewhere"),  # referenced table outside the snapshot: nothing to compare
    )
    assert hits("KY02", s) == []


def test_fk_type_mismatch_ignores_mysql_display_widths_but_not_sign() -> None:
    def run(mine: str, theirs: str) -> list[Hit]:
        s = snap(
            table("p", [f"id {theirs}"]),
            table("c", ["id", f"p_id {mine}"]),
            fk("c", ["p_id"], "p"),
            engine="mysql",
        )
        return hits("KY02", s)

    assert run("int(11)", "int(10)") == []
    assert len(run("int(11)", "int(10) unsigned")) == 1


# ---- KY03 unvalidated-constraint ---------------------------------------------------------------------------


def test_unvalidated_constraint_fires_on_not_valid_fk_and_check() -> None:
    s = snap(
        table("p"),
        table("c", ["id", "p_id"]),
        fk("c", ["p_id"], "p", validated=False),
        check_constraint("c", "c_positive", validated=False),
        check_constraint("c", "c_fine"),
        fk("c", ["id"], "p", name="c_id_fkey"),
    )
    found = {h.object.constraint or "": h for h in hits("KY03", s)}
    assert sorted(found) == ["c_p_id_fkey", "c_positive"]
    assert found["c_p_id_fkey"].object.type == "foreign_key"
    assert found["c_positive"].remediation is not None
    assert found["c_positive"].remediation.startswith("ALTER TABLE public.c VALIDATE CONSTRAINT c_positive;")
    assert "SHARE UPDATE EXCLUSIVE" in found["c_positive"].remediation


def test_unvalidated_domain_constraint_is_validated_through_the_domain() -> None:
    s = snap(
        table("t", ["id", "amount"]),
        Constraint("public", "", "cents_nonneg", "check", definition="CHECK (VALUE >= 0) NOT VALID",
                   validated=False, domain="cents"),
        Constraint("public", "", "Odd \"name\"", "check", validated=True, domain="My Domain"),
    )
    (hit,) = hits("KY03", s)
    assert hit.object.type == "constraint" and hit.object.domain == "cents" and hit.object.table is None
    assert hit.object.label() == "public.cents [cents_nonneg]"
    assert "domain public.cents" in hit.message
    assert (hit.remediation or "").startswith("ALTER DOMAIN public.cents VALIDATE CONSTRAINT cents_nonneg;")


# ---- KY04 sequence-exhaustion ------------------------------------------------------------------------------


def seq_hits(*seqs: Any, engine: str = "postgresql", opts: Any = None) -> list[Hit]:
    return hits("KY04", snap(*seqs, engine=engine), opts)


def test_sequence_threshold_edges() -> None:
    def at(pct: float) -> list[Hit]:
        last = math.ceil(INT_MAX * pct / 100)
        return seq_hits(sequence("s", data_type="integer", last_value=last, feeds=[("t", "id", "integer")]))

    assert at(74.9) == []
    warn = at(75.0)
    assert len(warn) == 1 and warn[0].severity is None
    assert at(89.9)[0].severity is None
    assert at(90.0)[0].severity is Severity.ERROR


def test_sequence_options_move_the_thresholds() -> None:
    s = sequence("s", data_type="integer", last_value=INT_MAX // 2, feeds=[("t", "id", "integer")])
    assert seq_hits(s) == []
    (hit,) = seq_hits(s, opts=SequenceExhaustionOptions(warn_pct=40.0, error_pct=49.0))
    assert hit.severity is Severity.ERROR


def test_int4_column_fed_by_bigint_sequence_counts_as_int4() -> None:
    s = sequence("t_id_seq", data_type="bigint", last_value=2_000_000_000, feeds=[("t", "id", "integer")])
    (hit,) = seq_hits(s)
    assert hit.severity is Severity.ERROR
    assert hit.details["max_value"] == INT_MAX
    assert hit.details["column_type"] == "integer"
    assert hit.object.sequence == "t_id_seq" and hit.object.table == "t" and hit.object.columns == ("id",)
    assert hit.object.label() == "public.t_id_seq" and hit.details["feeds"] == ["public.t.id"]
    assert hit.message.endswith("; it feeds public.t.id")
    assert hit.remediation is not None
    assert "ALTER TABLE public.t ALTER COLUMN id TYPE bigint;" in hit.remediation
    assert "ALTER SEQUENCE public.t_id_seq AS bigint NO MAXVALUE;" in hit.remediation
    assert "rewrites the table" in hit.remediation


def test_bigint_column_fed_by_the_same_sequence_is_fine() -> None:
    assert seq_hits(sequence("s", last_value=2_000_000_000, feeds=[("t", "id", "bigint")])) == []
    assert seq_hits(sequence("never_called", last_value=None, feeds=[("t", "id", "smallint")])) == []


def test_sequence_own_maxvalue_limits() -> None:
    (hit,) = seq_hits(sequence("s", last_value=800, max_value=1000, feeds=[("t", "id", "bigint")]))
    assert hit.details["max_value"] == 1000
    assert "ALTER TABLE" not in (hit.remediation or "")


def test_sequence_with_its_own_maxvalue_gets_it_raised_not_removed() -> None:
    # invoice numbers INV-000001..INV-999999: the six digits are the format, not an accident
    s = sequence("invoice_number_seq", last_value=850_000, max_value=999_999, feeds=[("invoices", "number", "text")])
    (hit,) = seq_hits(s)
    remediation = hit.remediation or ""
    assert remediation.endswith("ALTER SEQUENCE public.invoice_number_seq MAXVALUE 9999999;")
    assert "numbering scheme" in remediation
    assert "NO MAXVALUE" not in remediation and "AS bigint" not in remediation
    assert "rewrites the table" not in remediation
    # an integer sequence whose own limit grows past an integer column: the column is retyped too
    (hit,) = seq_hits(
        sequence("s", data_type="integer", last_value=1_800_000_000, max_value=2_000_000_000,
                 feeds=[("t", "id", "integer")])
    )
    lines = (hit.remediation or "").splitlines()
    assert "ALTER TABLE public.t ALTER COLUMN id TYPE bigint;" in lines
    assert lines[-1] == "ALTER SEQUENCE public.s AS bigint MAXVALUE 20000000000;"
    assert any("rewrites the table" in line for line in lines)


def test_sequence_remediation_says_rewrite_only_with_an_alter_table() -> None:
    # the column was widened to bigint, the integer sequence was not: no table to rewrite
    (hit,) = seq_hits(
        sequence("notifications_id_seq", data_type="integer", last_value=1_900_000_000,
                 feeds=[("notifications", "id", "bigint")])
    )
    assert hit.remediation == "ALTER SEQUENCE public.notifications_id_seq AS bigint NO MAXVALUE;"


def test_smallint_column_is_the_narrowest() -> None:
    s = sequence(
        "s", data_type="integer", last_value=30000, feeds=[("a", "id", "integer"), ("b", "id", "smallint")]
    )
    (hit,) = seq_hits(s)
    assert hit.details["max_value"] == 32767
    assert hit.object.table == "b" and hit.object.columns == ("id",)  # the limiting column's table
    assert hit.details["feeds"] == ["public.a.id", "public.b.id"]


def test_descending_sequence_is_measured_towards_its_minimum() -> None:
    s = sequence(
        "down", data_type="integer", increment=-1, last_value=-2_000_000_000, feeds=[("t", "id", "integer")]
    )
    (hit,) = seq_hits(s)
    assert hit.severity is Severity.ERROR
    assert hit.details["max_value"] == -(2**31)
    assert "NO MINVALUE" in (hit.remediation or "")
    fresh = sequence(
        "down2", data_type="integer", increment=-1, last_value=-5, feeds=[("t", "id", "integer")]
    )
    assert seq_hits(fresh) == []


def test_mysql_auto_increment_against_unsigned_types() -> None:
    def ai(last: int, column_type: str) -> list[Hit]:
        return seq_hits(
            sequence(
                "t",
                schema="shop",
                kind="auto_increment",
                last_value=last,
                feeds=[ColumnRef("shop", "t", "id", column_type)],
            ),
            engine="mysql",
        )

    assert ai(240, "tinyint(3) unsigned")[0].severity is Severity.ERROR
    assert ai(200, "tinyint(3) unsigned")[0].severity is None
    assert ai(200, "smallint(6)") == []
    assert ai(3_300_000_000, "int(10) unsigned")[0].severity is None
    (hit,) = ai(13_000_000, "mediumint unsigned")
    # the counter is the column's: no sequence object, the column named
    assert (hit.object.type, hit.object.schema, hit.object.table, hit.object.columns, hit.object.sequence) == (
        "column", "shop", "t", ("id",), None)
    assert hit.object.label() == "shop.t(id)"
    assert hit.remediation is not None
    assert "ALTER TABLE `shop`.`t` MODIFY `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT;" in hit.remediation


def test_integer_ranges() -> None:
    assert integer_range("postgresql", "integer") == (-(2**31), INT_MAX)
    assert integer_range("postgresql", "int2") == (-(2**15), 2**15 - 1)
    assert integer_range("postgresql", "numeric(20,0)") is None
    assert integer_range("mysql", "bigint(20) unsigned") == (0, 2**64 - 1)
    assert integer_range("mysql", "mediumint(8)") == (-(2**23), 2**23 - 1)


def test_cycling_sequence_within_its_column_is_not_reported() -> None:
    s = sequence(
        "ring", data_type="integer", last_value=INT_MAX - 5, cycle=True, feeds=[("t", "n", "integer")]
    )
    assert seq_hits(s) == []
    narrower = sequence("ring2", last_value=INT_MAX - 5, cycle=True, feeds=[("t", "n", "integer")])
    assert len(seq_hits(narrower)) == 1


def test_index_builder_smoke() -> None:
    # keeps the builder's index() honest about defaults the other tests rely on
    ix = index("t", ["a DESC"])
    assert ix.name == "t_a_idx" and ix.keys[0].descending and ix.keys[0].nulls_first
