"""The catalog queries rewritten for 10,000-table schemas (issue 15) still read what they read, on a real server.

tables.sql looks up the TOAST table and its index by oid (an OR of the two read pg_class whole for every table);
constraints.sql and columns.sql resolve each domain's base type once; indexes.sql reads every index's keys in one
grouped pass. Each figure here is checked against the server's own functions.
"""

from __future__ import annotations

import psycopg

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from tests.conftest import NewDb

SCHEMA = """
CREATE DOMAIN code AS varchar(12);
CREATE DOMAIN short_code AS code;
CREATE TABLE docs (id int PRIMARY KEY, body text, ref short_code UNIQUE, k int, j numeric(10,2), UNIQUE (k, j));
INSERT INTO docs SELECT g, (SELECT string_agg(md5((g * k)::text), '') FROM generate_series(1, 120) k),
                        'r' || g, g, g FROM generate_series(1, 300) g;
CREATE TABLE notes (doc_ref short_code REFERENCES docs (ref), k int, j numeric(10,2), body text,
                    FOREIGN KEY (j, k) REFERENCES docs (j, k) ON DELETE CASCADE);
CREATE INDEX notes_lower_idx ON notes (lower(body) text_pattern_ops, k DESC NULLS LAST) INCLUDE (j)
    WHERE k IS NOT NULL;
CREATE INDEX notes_c_idx ON notes (body COLLATE "C");
"""


def test_sizes_keys_and_domains_as_the_server_says(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(SCHEMA)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # relpages as the storage holds them
        # sizes as pg_class.relpages holds them (no lock; as of the last VACUUM / ANALYZE), the TOAST table's
        # and its index's pages looked up here on their own
        pages = "SELECT sum(relpages)::bigint * current_setting('block_size')::bigint FROM pg_class WHERE oid IN "
        toast_bytes = conn.execute(
            pages + "(SELECT reltoastrelid FROM pg_class WHERE oid = 'docs'::regclass UNION ALL"
            " SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.reltoastrelid = i.indrelid"
            " WHERE t.oid = 'docs'::regclass)").fetchone()
        table_bytes = conn.execute(pages + "('docs'::regclass)").fetchone()
        index_bytes = conn.execute(pages + "(SELECT indexrelid FROM pg_index WHERE indrelid = 'docs'::regclass)"
                                   ).fetchone()
    assert toast_bytes and table_bytes and index_bytes and toast_bytes[0] > 8192  # the bodies went to TOAST
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    docs = snap.table("public", "docs")
    assert docs is not None
    assert docs.toast_bytes == toast_bytes[0]
    assert docs.total_bytes == table_bytes[0] + index_bytes[0] + toast_bytes[0]

    fks = {c.name: c for c in snap.foreign_keys()}
    ref = fks["notes_doc_ref_fkey"]
    assert ref.ref_columns == ("ref",) and ref.ref_column_types == ("short_code",)
    assert ref.ref_column_base_types == ("character varying(12)",)  # through the domain over a domain
    pair = fks["notes_j_k_fkey"]
    assert pair.ref_columns == ("j", "k") and pair.ref_column_types == ("numeric(10,2)", "integer")
    assert pair.ref_column_base_types == (None, None) and pair.on_delete == "cascade"
    notes = snap.table("public", "notes")
    assert notes is not None
    assert [c.base_type for c in notes.columns] == ["character varying(12)", None, None, None]

    indexes = {ix.name: ix for ix in snap.indexes_of("public", "notes")}
    lower = indexes["notes_lower_idx"]
    assert [(k.column, k.expression, k.opclass, k.descending, k.nulls_first) for k in lower.keys] == [
        (None, "lower(body)", "text_pattern_ops", False, False), ("k", None, None, True, False)]
    assert lower.include == ("j",) and lower.predicate == "k IS NOT NULL"
    assert indexes["notes_c_idx"].keys[0].collation == "C"
    assert {ix.name: ix.include for ix in snap.indexes_of("public", "docs")}["docs_pkey"] == ()


def test_sample_rows_bounded_by_the_values_the_client_holds(pg_new_db: NewDb) -> None:
    """--sample-rows bounds the server's work; max_values bounds the client's (rows x sampled expressions)."""
    from auditor.connectors.postgres.sampling import sample_tables
    from auditor.sampling import SamplingBudget

    dsn = pg_new_db("CREATE TABLE wide (id int PRIMARY KEY, a int, b text, c text);"
                    "INSERT INTO wide SELECT g, g % 7, 'x' || g, 'y' || (g % 3) FROM generate_series(1, 5000) g;"
                    "ANALYZE wide;")
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    with psycopg.connect(dsn, autocommit=True) as conn:
        asked = sample_tables(conn, snap.tables, SamplingBudget(rows_per_table=4000))
        bounded = sample_tables(conn, snap.tables, SamplingBudget(rows_per_table=4000, max_values=6000))
    # 4 hashed columns + 2 text profiles = 6 values a row: 6,000 values are 1,000 rows
    assert asked.tables[0].rows == 4000 and bounded.tables[0].rows == 1000
    assert SamplingBudget(rows_per_table=10_000).rows_for(200) == 10_000  # the default's widest table: untouched


def test_extension_members_left_out_of_every_area(pg_new_db: NewDb) -> None:
    """A table, its sequence and a function an extension owns are the extension's, not the application's: no area
    reads them (each file finds the members from the extensions' side of pg_depend)."""
    dsn = pg_new_db("""
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE owned (id serial PRIMARY KEY, parent int REFERENCES owned (id), v int CHECK (v > 0));
CREATE INDEX owned_v_idx ON owned (v);
CREATE FUNCTION owned_touch() RETURNS int SECURITY DEFINER LANGUAGE sql AS 'SELECT 1';
ALTER EXTENSION pg_stat_statements ADD TABLE owned;
ALTER EXTENSION pg_stat_statements ADD SEQUENCE owned_id_seq;
ALTER EXTENSION pg_stat_statements ADD FUNCTION owned_touch();
CREATE TABLE mine (id serial PRIMARY KEY, owned_id int REFERENCES owned (id), v int CHECK (v > 0));
CREATE INDEX mine_v_idx ON mine (v);
CREATE FUNCTION mine_touch() RETURNS int SECURITY DEFINER LANGUAGE sql AS 'SELECT 1';
INSERT INTO mine (v) SELECT g FROM generate_series(1, 100) g;
ANALYZE mine;
""")
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    assert [t.name for t in snap.tables] == ["mine"]
    assert {i.table for i in snap.indexes} == {"mine"}
    assert {c.table for c in snap.constraints} == {"mine"}
    assert [s.name for s in snap.sequences] == ["mine_id_seq"]
    assert snap.posture is not None and snap.maintenance is not None
    assert [f.name for f in snap.posture.definer_functions or ()] == ["mine_touch"]
    assert {r.table for r in snap.posture.io or ()} == {"mine"}
    assert [f.table for f in snap.maintenance.freeze or ()] == ["mine"]
    assert {b.table for b in snap.maintenance.table_bloat or ()} == {"mine"}
    assert {b.table for b in snap.maintenance.index_bloat or ()} == {"mine"}
