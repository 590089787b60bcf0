"""The PostgreSQL connector on a real server: snapshot content, query count, session safety, privileges."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from auditor.connectors import CollectOptions
from auditor.connectors.postgres import collect, glob_to_regex
from auditor.connectors.postgres.session import (
    SessionLimits,
    pick_sql_file,
    read_only_session,
    sql_description,
)
from auditor.dsn import parse_dsn
from auditor.model import Snapshot, snapshot_from_json, snapshot_to_json
from auditor.throwaway import ExistingServer, PostgresServer

PgServer = PostgresServer | ExistingServer
T = TypeVar("T")

SEED = '''
CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL, region text);
COMMENT ON TABLE customers IS 'people who buy';
COMMENT ON COLUMN customers.email IS 'login address';
CREATE UNIQUE INDEX customers_email_lower ON customers (lower(email));
CREATE INDEX customers_region_partial ON customers (region) WHERE email IS NOT NULL;
INSERT INTO customers (email, region)
    SELECT 'c' || g || '@example.com', CASE WHEN g % 2 = 0 THEN 'north' END FROM generate_series(1, 100) g;

CREATE TABLE orders (order_no int, line_no int, qty int DEFAULT 1, PRIMARY KEY (order_no, line_no));

CREATE TABLE shipments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line int, ord int, customer_id int, created_at timestamptz,
    doubled int GENERATED ALWAYS AS (line * 2) STORED,
    CONSTRAINT shipments_line_fk FOREIGN KEY (ord, line) REFERENCES orders (order_no, line_no)
        MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED
);
ALTER TABLE shipments ADD CONSTRAINT shipments_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
    NOT VALID;
ALTER TABLE shipments ADD CONSTRAINT shipments_line_positive CHECK (line > 0) NOT VALID;
CREATE INDEX shipments_recent ON shipments (created_at DESC NULLS LAST, customer_id NULLS FIRST)
    INCLUDE (ord, line);
CREATE INDEX shipments_text ON shipments ((ord::text) text_pattern_ops, (line::text) COLLATE "C");

CREATE TABLE bookings (room int, during tsrange,
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (during WITH &&));

CREATE SEQUENCE ticket_seq;
CREATE SEQUENCE spare_seq AS smallint;
CREATE TABLE tickets (no integer DEFAULT nextval('ticket_seq'), label text);
INSERT INTO tickets (label) VALUES ('a'), ('b'), ('c');

CREATE TABLE events (id bigint, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

CREATE SCHEMA "Ärger";
CREATE TABLE "Ärger"."Mixed Case ""Quoted""" ("Select" int PRIMARY KEY, "naïve" text);
CREATE TABLE "Ärger".child ("Ref" int REFERENCES "Ärger"."Mixed Case ""Quoted""");

CREATE TABLE ext_owned (x int);
ALTER EXTENSION plpgsql ADD TABLE ext_owned;

ANALYZE;
'''


@pytest.fixture(scope="module")
def seeded(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Snapshot]]:
    """One seeded database and its snapshot, shared by the content tests (module scope: collect once)."""
    dsn = _new_db(pg_server, SEED)
    yield dsn, collect(parse_dsn(dsn), CollectOptions())


def _new_db(pg_server: PgServer, sql: str) -> str:
    # a module-scoped twin of conftest's pg_new_db; the session teardown of conftest does not know it, so the
    # database is named with a prefix the suite's other tests do not use and dropped by the caller's cleanup
    name = f"dbaudit_conn_{uuid.uuid4().hex[:8]}"
    base: str = pg_server.dsn()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _CREATED.append((base, name))
    dsn: str = pg_server.dsn(name)
    if sql.strip():
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]
    return dsn


_CREATED: list[tuple[str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def _drop_module_dbs() -> Iterator[None]:
    yield
    while _CREATED:
        base, name = _CREATED.pop()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _by_name(items: Iterable[T], name: str) -> T:
    found = [x for x in items if getattr(x, "name", None) == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


# ------------------------------------------------------------------------------------------------------------
# Content
# ------------------------------------------------------------------------------------------------------------


def test_server_facts(seeded: tuple[str, Snapshot], pg_server: PgServer) -> None:
    dsn, snap = seeded
    with psycopg.connect(dsn) as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]  # type: ignore[index]
    assert snap.engine == "postgresql"
    assert version.startswith(snap.server_version) and snap.server_version.count(".") == 1
    assert snap.server_version_num == pg_server.version_num
    assert snap.database == urlsplit(dsn).path.lstrip("/")
    assert snap.dsn == parse_dsn(dsn).display
    assert snap.collected_at is not None and snap.collected_at.utcoffset() == UTC.utcoffset(None)
    assert snap.server_started == started
    assert "superuser" in snap.capabilities
    assert snap.settings["shared_preload_libraries"].startswith("pg_stat_statements")
    assert "autovacuum" in snap.settings and "track_counts" in snap.settings
    assert snap.extensions == {"plpgsql": "1.0"}
    assert "pg_stat_statements" in snap.available_extensions
    assert set(snap.schemas) == {"public", "Ärger"}
    assert snap.queries_sent > 0 and snap.collect_duration_s is not None and snap.notes == ()


def test_tables_and_columns(seeded: tuple[str, Snapshot]) -> None:
    _, snap = seeded
    names = {t.qualified for t in snap.tables}
    assert "public.ext_owned" not in names  # belongs to an extension
    customers = snap.table("public", "customers")
    assert customers is not None
    assert (customers.kind, customers.comment, customers.estimated_rows) == ("table", "people who buy", 100)
    assert customers.total_bytes and customers.table_bytes and customers.index_bytes
    assert customers.total_bytes >= customers.table_bytes + customers.index_bytes
    email, region = customers.column("email"), customers.column("region")
    assert email is not None and region is not None
    assert (email.data_type, email.nullable, email.comment) == ("text", False, "login address")
    assert email.position == 2
    assert region.null_frac == pytest.approx(0.5)
    assert customers.column("id").default == "nextval('customers_id_seq'::regclass)"  # type: ignore[union-attr]
    assert customers.stats.n_tup_ins == 100 and customers.stats.analyze_count is not None

    shipments = snap.table("public", "shipments")
    assert shipments is not None and shipments.estimated_rows == 0  # analyzed, empty
    assert shipments.column("id").identity == "always"  # type: ignore[union-attr]
    doubled = shipments.column("doubled")
    assert doubled is not None and doubled.generated == "line * 2" and doubled.default is None
    assert snap.table("public", "orders").column("qty").default == "1"  # type: ignore[union-attr]

    events, part = snap.table("public", "events"), snap.table("public", "events_2024")
    assert events is not None and part is not None
    assert (events.kind, events.is_partition, events.parent) == ("partitioned", False, None)
    assert (part.kind, part.is_partition, part.parent) == ("table", True, "public.events")

    odd = snap.table("Ärger", 'Mixed Case "Quoted"')
    assert odd is not None and [c.name for c in odd.columns] == ["Select", "naïve"]


def test_constraints(seeded: tuple[str, Snapshot]) -> None:
    _, snap = seeded
    line_fk = _by_name(snap.constraints, "shipments_line_fk")
    assert line_fk.type == "foreign_key"
    assert line_fk.columns == ("ord", "line")
    assert (line_fk.ref_schema, line_fk.ref_table, line_fk.ref_columns) == (
        "public", "orders", ("order_no", "line_no"))
    assert (line_fk.on_update, line_fk.on_delete, line_fk.match_type) == (
        "cascade", "set null", "full")
    assert line_fk.deferrable and line_fk.validated and line_fk.index is None

    assert not _by_name(snap.constraints, "shipments_customer_fk").validated
    check = _by_name(snap.constraints, "shipments_line_positive")
    assert (check.type, check.validated, check.columns) == ("check", False, ("line",))
    assert check.definition == "CHECK (line > 0) NOT VALID"

    pk = _by_name(snap.constraints, "orders_pkey")
    assert (pk.type, pk.columns, pk.index) == ("primary_key", ("order_no", "line_no"), "orders_pkey")
    excl = _by_name(snap.constraints, "bookings_no_overlap")
    assert (excl.type, excl.index) == ("exclusion", "bookings_no_overlap")

    # the partitions' clones of the parent's primary key stand behind the parent's row
    assert [c.name for c in snap.constraints_of("public", "events")] == ["events_pkey"]
    assert snap.constraints_of("public", "events_2024") == []

    odd_fk = snap.constraints_of("Ärger", "child", "foreign_key")
    assert len(odd_fk) == 1 and odd_fk[0].ref_table == 'Mixed Case "Quoted"' and odd_fk[0].columns == ("Ref",)


def test_indexes(seeded: tuple[str, Snapshot]) -> None:
    _, snap = seeded
    recent = _by_name(snap.indexes, "shipments_recent")
    k1, k2 = recent.keys
    assert (k1.column, k1.descending, k1.nulls_first) == ("created_at", True, False)
    assert (k2.column, k2.descending, k2.nulls_first) == ("customer_id", False, True)
    assert recent.include == ("ord", "line") and recent.predicate is None
    assert recent.columns == ("created_at", "customer_id")

    text = _by_name(snap.indexes, "shipments_text")
    e1, e2 = text.keys
    assert (e1.column, e1.expression) == (None, "(ord::text)")
    assert (e1.opclass, e1.collation) == ("text_pattern_ops", None)
    assert (e2.column, e2.expression, e2.opclass, e2.collation) == (None, "(line::text)", None, "C")

    lower = _by_name(snap.indexes, "customers_email_lower")
    assert [(k.column, k.expression) for k in lower.keys] == [(None, "lower(email)")]
    assert lower.is_unique and not lower.is_primary and lower.constraint is None

    partial = _by_name(snap.indexes, "customers_region_partial")
    assert partial.predicate == "email IS NOT NULL"
    assert partial.definition.startswith("CREATE INDEX customers_region_partial ON public.customers")

    pk = _by_name(snap.indexes, "orders_pkey")
    assert (pk.is_primary, pk.constraint, pk.constraint_type, pk.method) == (
        True, "orders_pkey", "primary_key", "btree")
    assert pk.is_valid and pk.is_ready and pk.scans == 0 and pk.size_bytes
    excl = _by_name(snap.indexes, "bookings_no_overlap")
    assert (excl.method, excl.constraint_type) == ("gist", "exclusion")

    parent = _by_name(snap.indexes, "events_pkey")
    child = _by_name(snap.indexes, "events_2024_pkey")
    assert not parent.is_partition_child and child.is_partition_child
    assert (child.table, child.constraint_type) == ("events_2024", "primary_key")


def test_sequences(seeded: tuple[str, Snapshot]) -> None:
    _, snap = seeded
    serial = _by_name(snap.sequences, "customers_id_seq")
    assert serial.data_type == "integer" and serial.last_value == 100
    assert [(f.table, f.column, f.data_type) for f in serial.feeds] == [("customers", "id", "integer")]

    identity = _by_name(snap.sequences, "shipments_id_seq")
    assert identity.data_type == "bigint" and identity.last_value is None  # never called
    assert [(f.table, f.column, f.data_type) for f in identity.feeds] == [("shipments", "id", "bigint")]

    # a bigint sequence feeding an int4 column through DEFAULT nextval(): the column's type is what runs out
    ticket = _by_name(snap.sequences, "ticket_seq")
    assert (ticket.data_type, ticket.last_value, ticket.max_value) == ("bigint", 3, 2**63 - 1)
    assert [(f.schema, f.table, f.column, f.data_type) for f in ticket.feeds] == [
        ("public", "tickets", "no", "integer")]

    spare = _by_name(snap.sequences, "spare_seq")
    assert (spare.data_type, spare.max_value, spare.feeds) == ("smallint", 32767, ())


def test_json_round_trip_of_a_real_snapshot(seeded: tuple[str, Snapshot]) -> None:
    _, snap = seeded
    assert snapshot_from_json(snapshot_to_json(snap)) == snap


def test_schema_patterns_are_applied(seeded: tuple[str, Snapshot]) -> None:
    dsn, _ = seeded
    only = collect(parse_dsn(dsn), CollectOptions(include_schemas=("Ä*",)))
    assert only.schemas == ("Ärger",) and {t.schema for t in only.tables} == {"Ärger"}
    assert {i.schema for i in only.indexes} == {"Ärger"} and only.sequences == ()
    without = collect(parse_dsn(dsn), CollectOptions(exclude_schemas=("?rger", "nothing*")))
    assert without.schemas == ("public",) and {c.schema for c in without.constraints} == {"public"}


DOMAINS = """
CREATE SCHEMA kept;
CREATE SCHEMA other;
CREATE DOMAIN kept.ref AS bigint;
CREATE DOMAIN kept.ref2 AS kept.ref;
CREATE DOMAIN kept.code AS varchar(12);
CREATE DOMAIN kept.cents AS bigint;
ALTER DOMAIN kept.cents ADD CONSTRAINT cents_nonneg CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN kept.cents ADD CONSTRAINT cents_small CHECK (VALUE < 10000000000);
CREATE DOMAIN other.hidden AS int;
ALTER DOMAIN other.hidden ADD CONSTRAINT hidden_pos CHECK (VALUE > 0) NOT VALID;
CREATE TABLE other.parents (id kept.ref2 PRIMARY KEY, code kept.code UNIQUE);
CREATE TABLE kept.children (
    parent_id kept.ref2 REFERENCES other.parents (id), code varchar(12) REFERENCES other.parents (code),
    amount kept.cents, n int
);
"""


def test_domains_and_types_of_referenced_columns(pg_new_db: Callable[..., str]) -> None:
    snap = collect(parse_dsn(pg_new_db(DOMAINS)), CollectOptions(exclude_schemas=("other",), workload=False,
                                                                  sample=False))
    assert snap.table("other", "parents") is None
    children = snap.table("kept", "children")
    assert children is not None
    types = {c.name: (c.data_type, c.base_type) for c in children.columns}
    assert types == {"parent_id": ("kept.ref2", "bigint"), "code": ("character varying(12)", None),
                     "amount": ("kept.cents", "bigint"), "n": ("integer", None)}
    fks = {c.columns: c for c in snap.foreign_keys()}
    assert fks[("parent_id",)].ref_column_types == ("kept.ref2",)
    assert fks[("parent_id",)].ref_column_base_types == ("bigint",)
    assert fks[("code",)].ref_column_types == ("kept.code",)
    assert fks[("code",)].ref_column_base_types == ("character varying(12)",)
    # only the unvalidated constraint of a domain in an audited schema, with the domain named and no table
    domain_constraints = [c for c in snap.constraints if c.domain is not None]
    assert [(c.schema, c.domain, c.name, c.type, c.validated, c.table) for c in domain_constraints] == [
        ("kept", "cents", "cents_nonneg", "check", False, "")
    ]
    assert snapshot_from_json(snapshot_to_json(snap)) == snap


# Indexes whose CREATE INDEX the client writes (plain ones) next to those the server writes: names that need
# quoting (capitals, quotes, keywords quote_ident quotes and one it does not, non-ASCII, a dollar), INCLUDE,
# an explicit COLLATE "default" on a "C" column, a column with a non-default collation, varchar with text_ops
# by default, non-default opclasses, DESC / NULLS FIRST, a predicate, storage parameters, NULLS NOT DISTINCT,
# hash / GIN / BRIN / GiST, unique and primary keys, a partitioned parent (ON ONLY) and its children.
INDEX_DEFINITIONS = '''
CREATE SCHEMA "Odd ""Schema""";
CREATE TABLE "Odd ""Schema"""."Order" ("select" int PRIMARY KEY, "Name" text COLLATE "C", "user" varchar(20),
    name text, "naïve" text, cost$ int, "limit" int, tags int[], doc jsonb, at timestamptz, ip inet,
    span int4range, value text, "group" int);
CREATE INDEX "Order_mixed" ON "Odd ""Schema"""."Order" ("Name", "user") INCLUDE ("naïve", cost$);
CREATE INDEX order_default_coll ON "Odd ""Schema"""."Order" ("Name" COLLATE "default");
CREATE INDEX order_c_coll ON "Odd ""Schema"""."Order" (name COLLATE "C");
CREATE INDEX order_keywords ON "Odd ""Schema"""."Order" ("limit", "group", value);
CREATE UNIQUE INDEX order_user_key ON "Odd ""Schema"""."Order" ("user");
CREATE INDEX order_pattern ON "Odd ""Schema"""."Order" ("user" varchar_pattern_ops, name text_pattern_ops);
CREATE INDEX order_desc ON "Odd ""Schema"""."Order" (at DESC, name NULLS FIRST);
CREATE INDEX order_partial ON "Odd ""Schema"""."Order" (name) WHERE "limit" > 0;
CREATE INDEX order_fill ON "Odd ""Schema"""."Order" (name) WITH (fillfactor = 70);
CREATE INDEX order_hash ON "Odd ""Schema"""."Order" USING hash (name);
CREATE INDEX order_gin ON "Odd ""Schema"""."Order" USING gin (tags);
CREATE INDEX order_gin_path ON "Odd ""Schema"""."Order" USING gin (doc jsonb_path_ops);
CREATE INDEX order_brin ON "Odd ""Schema"""."Order" USING brin (at);
CREATE INDEX order_gist ON "Odd ""Schema"""."Order" USING gist (span);
CREATE INDEX order_inet ON "Odd ""Schema"""."Order" (ip);
CREATE INDEX order_expr ON "Odd ""Schema"""."Order" (lower(name), "limit");
CREATE TABLE parted (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE parted_2024 PARTITION OF parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX parted_at ON parted (at);
CREATE TABLE checked ("Low" int, high int, CONSTRAINT ordered CHECK (high > "Low"),
    CONSTRAINT own_table CHECK (tableoid <> 0), UNIQUE (high, "Low"));
'''


def test_index_definitions_are_the_servers(pg_new_db: Callable[..., str], pg_server: PgServer) -> None:
    """Every index's definition is pg_get_indexdef()'s text, whether the client or the server wrote it."""
    sql = INDEX_DEFINITIONS
    if pg_server.version_num >= 150000:
        sql += 'CREATE UNIQUE INDEX order_nnd ON "Odd ""Schema"""."Order" ("limit") NULLS NOT DISTINCT;\n'
    dsn = pg_new_db(sql)
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False, sample=False))
    with psycopg.connect(dsn) as conn:
        server = {(str(r[0]), str(r[1])): str(r[2]) for r in conn.execute(
            "SELECT n.nspname, c.relname, pg_get_indexdef(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('i', 'I') AND n.nspname !~ '^pg_'")}
    ours = {(ix.schema, ix.name): ix.definition for ix in snap.indexes}
    assert len(ours) >= 20 and ours == server
    mixed = _by_name(snap.indexes, "Order_mixed")
    assert mixed.columns == ("Name", "user") and mixed.include == ("naïve", "cost$")
    assert [k.collation for k in _by_name(snap.indexes, "order_default_coll").keys] == ["default"]
    assert [k.collation for k in _by_name(snap.indexes, "order_c_coll").keys] == ["C"]
    assert [k.opclass for k in _by_name(snap.indexes, "order_pattern").keys] == [
        "varchar_pattern_ops", "text_pattern_ops"]
    assert [(k.column, k.expression) for k in _by_name(snap.indexes, "order_expr").keys] == [
        (None, "lower(name)"), ("limit", None)]
    # constraints' columns are named from their numbers too, a system column (tableoid) included
    columns = {c.name: c.columns for c in snap.constraints_of("public", "checked")}
    assert columns == {"ordered": ("high", "Low"), "own_table": ("tableoid",),
                       "checked_high_Low_key": ("high", "Low")}
    desc = _by_name(snap.indexes, "order_desc").keys
    assert [(k.column, k.descending, k.nulls_first) for k in desc] == [("at", True, True), ("name", False, True)]


STATISTICS = '''
CREATE SCHEMA stats;
CREATE TABLE stats.parted (id int, at date, note text) PARTITION BY RANGE (at);
CREATE TABLE stats.parted_a PARTITION OF stats.parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO stats.parted SELECT g, date '2024-01-01' + g % 300, CASE WHEN g % 3 = 0 THEN 'n' END
    FROM generate_series(1, 2000) g;
CREATE TABLE stats.base (id int, kind text);
CREATE TABLE stats.derived (extra int) INHERITS (stats.base);
INSERT INTO stats.base SELECT g, 'k' || g % 7 FROM generate_series(1, 500) g;
INSERT INTO stats.derived SELECT g, 'd', g FROM generate_series(1, 500) g;
CREATE TABLE stats.secret (id int, owner text, gone int);
ALTER TABLE stats.secret DROP COLUMN gone;
ALTER TABLE stats.secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON stats.secret USING (owner = current_user);
INSERT INTO stats.secret SELECT g, 'u' || g % 4 FROM generate_series(1, 400) g;
CREATE INDEX secret_lower ON stats.secret (lower(owner));
ANALYZE;
'''


def test_superusers_column_statistics_are_the_rows_pg_stats_shows(pg_new_db: Callable[..., str]) -> None:
    """A superuser reads pg_statistic directly (column_stats_superuser.sql): the same rows as pg_stats, with
    a partitioned parent's and an inheritance parent's inherited rows, a dropped column, row-level security and
    an expression index's own rows."""
    dsn = pg_new_db(STATISTICS)
    with read_only_session(parse_dsn(dsn), SessionLimits()) as session:
        by_view, direct = (
            sorted(tuple(r.values()) for r in session.query(area, {"schemas": ["stats"], "locked": []}))
            for area in ("column_stats", "column_stats_superuser"))
    assert len(by_view) >= 12 and direct == by_view
    assert {(r[1], r[2]) for r in direct if r[3]} >= {("parted", "note"), ("base", "kind")}  # inherited rows
    assert any(r[1] == "secret_lower" for r in direct)  # the expression index's statistics
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False, sample=False))
    note = snap.table("stats", "parted_a").column("note")  # type: ignore[union-attr]
    assert note is not None and note.null_frac is not None and 0.6 < note.null_frac < 0.7
    # an inheritance parent keeps its own rows' figures, not its children's
    kind = snap.table("stats", "base").column("kind")  # type: ignore[union-attr]
    assert kind is not None and kind.n_distinct == 7


def test_glob_to_regex() -> None:
    assert glob_to_regex("app_*") == "^app_.*$"
    assert glob_to_regex("v?.x") == "^v.\\.x$"
    assert glob_to_regex("t[!0-9]") == "^t[^0-9]$"
    assert glob_to_regex("Ärger") == "^Ärger$"


def test_sql_files_have_descriptions_and_variants_resolve() -> None:
    from importlib import resources

    folder = resources.files("auditor.connectors.postgres").joinpath("sql")
    files = [e for e in folder.iterdir() if e.name.endswith(".sql")]
    assert len(files) >= 9
    for entry in files:
        assert entry.read_text(encoding="utf-8").startswith("-- description: "), entry.name
        assert sql_description(entry.read_text(encoding="utf-8"))
    names = ["tables.sql", "tables_pg17.sql", "tables_pg15.sql", "columns.sql"]
    assert pick_sql_file("tables", 13, names) == "tables.sql"
    assert pick_sql_file("tables", 16, names) == "tables_pg15.sql"
    assert pick_sql_file("tables", 18, names) == "tables_pg17.sql"
    assert pick_sql_file("columns", 18, names) == "columns.sql"


# ------------------------------------------------------------------------------------------------------------
# The number of queries does not depend on the schema
# ------------------------------------------------------------------------------------------------------------


def _schema_of(n: int) -> str:
    parts = ["CREATE EXTENSION pg_stat_statements;"]
    for i in range(n):
        parts.append(f"CREATE TABLE t{i} (id serial PRIMARY KEY, code text UNIQUE, prev_id int"
                     + (f" REFERENCES t{i - 1} (id)" if i else "") + ", note text);")
        parts.append(f"CREATE INDEX t{i}_prev ON t{i} (prev_id);")
        parts.append(f"CREATE SEQUENCE t{i}_extra_seq;")
        parts.append(f"CREATE FUNCTION t{i}_touch(k int) RETURNS void SECURITY DEFINER "
                     f"LANGUAGE sql AS 'UPDATE t{i} SET note = note WHERE id = k';")
    return "\n".join(parts)


def _server_side_statements(dsn: str) -> tuple[Snapshot, int]:
    """Collect, counting the statements the server ran in that database (pg_stat_statements lives there)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database"
                     " WHERE datname = current_database()), 0)")
        # the bounded probes (data samples, EXPLAIN) send per-table statements by design and count their own
        snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
        row = conn.execute(
            "SELECT coalesce(sum(calls), 0)::int FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel"
            " AND query NOT LIKE 'SELECT pg_stat_statements_reset%'").fetchone()
    assert row is not None
    return snap, int(row[0])


def test_query_count_does_not_grow_with_the_schema(pg_server: PgServer) -> None:
    small = _new_db(pg_server, _schema_of(3))
    large = _new_db(pg_server, _schema_of(60))
    snap_small, server_small = _server_side_statements(small)
    snap_large, server_large = _server_side_statements(large)
    assert len(snap_small.tables) == 3 and len(snap_large.tables) == 60
    assert len(snap_large.indexes) == 180 and len(snap_large.sequences) == 120
    assert sum(1 for _ in snap_large.foreign_keys()) == 59
    # the settings and security areas read the whole schema in bulk as well
    assert snap_large.posture is not None and snap_large.posture.io is not None
    assert len(snap_large.posture.definer_functions or ()) == 60
    assert len(snap_large.posture.io) == 60 + 180  # every table's heap and every index
    # and so do the maintenance parts: freeze ages and bloat estimate inputs of every table and B-tree
    assert snap_large.maintenance is not None
    assert len(snap_large.maintenance.freeze or ()) == 60
    assert len(snap_large.maintenance.databases or ()) >= 3
    assert snap_large.maintenance.table_bloat is not None and snap_large.maintenance.index_bloat is not None
    # so do the transaction and replication areas (prepared transactions, slots, standbys, replay position)
    for s in (snap_small, snap_large):
        assert s.replication is not None and s.replication.server_time is not None
        assert (s.replication.prepared_xacts, s.replication.slots, s.replication.standbys) == ((), (), ())
    assert snap_small.queries_sent == snap_large.queries_sent
    # what the server saw: the same number of statements, and at least one per round trip we counted
    assert server_small == server_large
    assert server_large >= snap_large.queries_sent


# ------------------------------------------------------------------------------------------------------------
# The session: read-only, named, bounded
# ------------------------------------------------------------------------------------------------------------


def test_session_is_read_only_named_and_bounded(seeded: tuple[str, Snapshot], pg_server: PgServer) -> None:
    dsn, _ = seeded
    limits = SessionLimits(connect_timeout_s=5, statement_timeout_ms=4321, lock_timeout_ms=765,
                           idle_in_transaction_timeout_ms=98765)
    with read_only_session(parse_dsn(dsn), limits) as session:
        shown = {name: session.execute(f"SHOW {name}")[0][name] for name in (
            "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
            "transaction_read_only",
            "transaction_isolation", "default_transaction_read_only", "application_name")}
        assert shown == {"statement_timeout": "4321ms", "lock_timeout": "765ms",
                         "idle_in_transaction_session_timeout": "98765ms", "transaction_read_only": "on",
                         "transaction_isolation": "repeatable read", "default_transaction_read_only": "on",
                         "application_name": "dbaudit"}
        with psycopg.connect(pg_server.dsn(), autocommit=True) as other:
            row = other.execute("SELECT application_name, datname FROM pg_stat_activity WHERE pid = %s",
                                (session.conn.info.backend_pid,)).fetchone()
        assert row == ("dbaudit", urlsplit(dsn).path.lstrip("/"))

        session.execute("SAVEPOINT write_attempt")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            session.conn.execute("CREATE TABLE intruder (x int)")
        session.execute("ROLLBACK TO SAVEPOINT write_attempt")
        # outside the audit transaction the session default still refuses writes
        session.execute("ROLLBACK")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            session.conn.execute("INSERT INTO customers (email) VALUES ('x')")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (100,)


def test_password_never_reaches_the_snapshot(pg_server: PgServer, pg_new_db: object) -> None:
    dsn = pg_new_db("CREATE TABLE t (id int PRIMARY KEY)")  # type: ignore[operator]
    secret = "pw-" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS dbaudit_pw")
        conn.execute(f"CREATE ROLE dbaudit_pw LOGIN PASSWORD '{secret}'")
    try:
        parts = urlsplit(dsn)
        with_pw = urlunsplit(parts._replace(netloc=f"dbaudit_pw:{secret}@{parts.hostname}:{parts.port}"))
        snap = collect(parse_dsn(with_pw), CollectOptions())
        assert [t.name for t in snap.tables] == ["t"]
        assert snap.dsn.startswith("postgresql://dbaudit_pw@") and secret not in snapshot_to_json(snap)
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS dbaudit_pw")


# ------------------------------------------------------------------------------------------------------------
# Privileges: a limited role still gets a snapshot, with notes saying what it could not see
# ------------------------------------------------------------------------------------------------------------

LIMITED_SEED = """
CREATE SCHEMA shop;
CREATE TABLE shop.open_t (id serial PRIMARY KEY, v text);
CREATE TABLE shop.closed_t (id int PRIMARY KEY, secret text);
CREATE SEQUENCE shop.closed_seq;
SELECT nextval('shop.closed_seq');
INSERT INTO shop.open_t (v) VALUES ('x');
ANALYZE;
"""


@pytest.fixture
def limited_role(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    role = f"dbaudit_t_lim_{uuid.uuid4().hex[:6]}"
    dsn = _new_db(pg_server, LIMITED_SEED)
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA shop TO {role}; GRANT SELECT ON shop.open_t TO {role}; "
                     f"GRANT SELECT ON SEQUENCE shop.open_t_id_seq TO {role}")
    parts = urlsplit(dsn)
    yield urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}")), role
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS \"{urlsplit(dsn).path.lstrip('/')}\" WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_limited_role_gets_a_snapshot_with_privilege_notes(limited_role: tuple[str, str]) -> None:
    dsn, role = limited_role
    snap = collect(parse_dsn(dsn), CollectOptions())
    assert {t.name for t in snap.tables} == {"open_t", "closed_t"}
    assert "superuser" not in snap.capabilities
    notes = {n.area: n for n in snap.notes}
    assert notes["privileges"].objects == ("shop.closed_t",)
    assert f"GRANT SELECT ON shop.closed_t TO {role};" in (notes["privileges"].enable or "")
    assert notes["sequences"].objects == ("shop.closed_seq",)
    assert f"GRANT SELECT ON SEQUENCE shop.closed_seq TO {role};" in (notes["sequences"].enable or "")
    closed_seq = _by_name(snap.sequences, "closed_seq")
    assert closed_seq.last_value is None
    assert _by_name(snap.sequences, "open_t_id_seq").last_value == 1


def test_refused_catalog_query_is_noted_and_the_rest_collected(limited_role: tuple[str, str]) -> None:
    dsn, role = limited_role
    admin_dsn = urlunsplit(urlsplit(dsn)._replace(netloc=f"postgres@{urlsplit(dsn).netloc.split('@')[1]}"))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("REVOKE SELECT ON pg_catalog.pg_stats FROM PUBLIC")
    snap = collect(parse_dsn(dsn), CollectOptions())
    refused = [n for n in snap.notes if n.area == "column_stats"]
    assert len(refused) == 1 and "permission denied" in refused[0].message
    # every area after the refused one is still there, in the same transaction
    assert {t.name for t in snap.tables} == {"open_t", "closed_t"}
    assert {i.name for i in snap.indexes} == {"open_t_pkey", "closed_t_pkey"}
    assert {c.name for c in snap.constraints} == {"open_t_pkey", "closed_t_pkey"}
    assert len(snap.sequences) == 2
    open_t = snap.table("shop", "open_t")
    assert open_t is not None and open_t.column("v") is not None and open_t.column("v").null_frac is None  # type: ignore[union-attr]
    # the bloat estimates read column_stats' rows: none either, each with the refusal and its GRANT
    assert snap.maintenance is not None
    assert snap.maintenance.table_bloat is None and snap.maintenance.index_bloat is None
    for area in ("table_bloat", "index_bloat"):
        note = next(n for n in snap.notes if n.area == area)
        assert note.message.startswith(f"the {area} query was refused (permission denied")
        assert note.enable == refused[0].enable and area in snap.unread_areas
