"""A large generated snapshot, built in memory, for the scale test and the checks benchmark (issue 15).

The shape follows ``bench/scale_schema.py`` (what a connector reads from that schema), with a workload and a
posture on top, so that every check has work to do at scale:

* per table ``tNNNNN``: 8 columns, a primary key, indexes on name and code, (parent_id, created_at) on even tables,
  a duplicate name index on every tenth (IX02), a partial index on every seventh, an expression index on every
  eleventh, a redundant (code) prefix under (code, status) on every thirteenth (IX03), a foreign key to the
  previous table (unindexed on odd tables: IX05) and on every third one to the table at half its number;
* a few unused indexes (IX01), invalid ones (IX04), tables without a primary key (KY01), a sequence per table;
* ``statements`` recorded statements over the tables (lookups, joins, paging), the costliest 200 with plans;
* a posture: default settings, a SECURITY DEFINER function per table (half without a search_path: SC05), I/O
  counters per table and index.
"""

from __future__ import annotations

from datetime import timedelta

from auditor.model import (
    Column,
    ColumnRef,
    Constraint,
    Index,
    IndexKey,
    PlanScan,
    PlanSummary,
    Sequence,
    Snapshot,
    Statement,
    Table,
    TableStats,
    WorkloadInfo,
)
from auditor.posture import DatabaseStats, DefinerFunction, Posture, RelationIo, Role, SchemaPrivileges
from tests.builders import NOW, pg_settings

EXPLAINED = 200  # statements with a plan, like the connector's default explain budget


def _name(i: int) -> str:
    return f"t{i:05d}"


def _columns(i: int) -> tuple[Column, ...]:
    cols = [
        Column("id", "integer", nullable=False, default=f"nextval('{_name(i)}_id_seq'::regclass)", position=1,
               n_distinct=-1.0),
        Column("name", "text", nullable=False, position=2, n_distinct=2.0),
        Column("amount", "numeric(12,2)", position=3),
        Column("created_at", "timestamp with time zone", nullable=False, default="now()", position=4),
        Column("code", "character varying(20)", position=5, n_distinct=-1.0),
        Column("status", "integer", position=6, null_frac=0.5),
    ]
    if i > 1:
        cols.append(Column("parent_id", "integer", position=7, n_distinct=-0.5))
    if i > 2 and i % 3 == 0:
        cols.append(Column("other_id", "integer", position=8, null_frac=1.0))
    return tuple(cols)


def _index(i: int, name: str, *keys: str, unique: bool = False, primary: bool = False, predicate: str | None = None,
           scans: int = 5, valid: bool = True) -> Index:
    table = _name(i)
    built = tuple(IndexKey(expression=k[1:-1]) if k.startswith("(") else IndexKey(column=k) for k in keys)
    cols = ", ".join(k for k in keys)
    where = f" WHERE {predicate}" if predicate else ""
    return Index(
        schema="public", table=table, name=name, keys=built, is_unique=unique or primary, is_primary=primary,
        predicate=predicate, is_valid=valid, constraint=name if primary else None,
        constraint_type="primary_key" if primary else None,
        definition=f"CREATE {'UNIQUE ' if unique or primary else ''}INDEX {name} ON public.{table} "
                   f"USING btree ({cols}){where}",
        size_bytes=16384, scans=scans, tuples_read=scans * 2, tuples_fetched=scans,
    )


def _table_objects(i: int) -> tuple[Table, list[Index], list[Constraint], Sequence]:
    name = _name(i)
    rows = 1000 + (i * 7919) % 500_000
    table = Table(
        schema="public", name=name, estimated_rows=rows, total_bytes=rows * 120, table_bytes=rows * 80,
        index_bytes=rows * 40, toast_bytes=0, comment=None if i % 4 else f"table {i}", columns=_columns(i),
        stats=TableStats(seq_scan=10 + i % 50, seq_tup_read=rows * 3, idx_scan=100 + i % 1000,
                         idx_tup_fetch=500, n_tup_ins=rows, n_tup_upd=i % 100, n_tup_del=0, n_tup_hot_upd=0,
                         n_live_tup=rows, n_dead_tup=i % 300, n_mod_since_analyze=i % 200,
                         last_autoanalyze=NOW - timedelta(hours=i % 48), autovacuum_count=1, autoanalyze_count=2),
    )
    keyless = i % 500 == 0  # KY01
    indexes: list[Index] = []
    constraints: list[Constraint] = []
    if not keyless:
        indexes.append(_index(i, f"{name}_pkey", "id", primary=True, scans=1000 + i))
        constraints.append(Constraint("public", name, f"{name}_pkey", "primary_key", columns=("id",),
                                      definition="PRIMARY KEY (id)", index=f"{name}_pkey"))
    # every hundredth table: an index never scanned (IX01)
    indexes.append(_index(i, f"{name}_name_idx", "name", scans=0 if i % 100 == 1 else 50))
    if i % 13 == 0:
        indexes.append(_index(i, f"{name}_code_idx", "code", scans=7))
        indexes.append(_index(i, f"{name}_code_status_idx", "code", "status", scans=9))
    else:
        indexes.append(_index(i, f"{name}_code_idx", "code", scans=7))
    if i > 1 and i % 2 == 0:
        indexes.append(_index(i, f"{name}_parent_id_idx", "parent_id", "created_at"))
    if i % 10 == 0:
        indexes.append(_index(i, f"{name}_name_dup_idx", "name", scans=1))
    if i % 7 == 0:
        indexes.append(_index(i, f"{name}_status_idx", "status", predicate="status IS NOT NULL"))
    if i % 11 == 0:
        indexes.append(_index(i, f"{name}_lower_code_idx", "(lower((code)::text))"))
    if i % 1000 == 0:
        indexes.append(_index(i, f"{name}_amount_idx", "amount", valid=False))  # IX04
    if i > 1:
        constraints.append(Constraint(
            "public", name, f"{name}_parent_id_fkey", "foreign_key", columns=("parent_id",),
            definition=f"FOREIGN KEY (parent_id) REFERENCES {_name(i - 1)}(id)", ref_schema="public",
            ref_table=_name(i - 1), ref_columns=("id",), on_update="no action", on_delete="no action",
            match_type="simple", ref_column_types=("integer",), ref_column_base_types=(None,)))
    if i > 2 and i % 3 == 0:
        constraints.append(Constraint(
            "public", name, f"{name}_other_id_fkey", "foreign_key", columns=("other_id",),
            definition=f"FOREIGN KEY (other_id) REFERENCES {_name(i // 2)}(id)", ref_schema="public",
            ref_table=_name(i // 2), ref_columns=("id",), on_update="no action", on_delete="no action",
            match_type="simple", ref_column_types=("integer",), ref_column_base_types=(None,)))
    if i % 5 == 0:
        constraints.append(Constraint("public", name, f"{name}_amount_check", "check",
                                      definition="CHECK ((amount > (0)::numeric))", validated=i % 250 != 0))
    sequence = Sequence(
        schema="public", name=f"{name}_id_seq", data_type="integer", start_value=1, max_value=2**31 - 1,
        min_value=1, last_value=rows if i % 2000 else 2**31 - 1000,
        feeds=(ColumnRef("public", name, "id", "integer"),))
    return table, indexes, constraints, sequence


_SHAPES = (
    "SELECT id, name, amount FROM {t} WHERE id = $1",
    "SELECT * FROM {t} WHERE parent_id = $1",
    "SELECT id, name FROM {t} ORDER BY created_at DESC LIMIT $1 OFFSET $2",
    "UPDATE {t} SET amount = amount + $1 WHERE id = $2",
    "SELECT c.id, p.name FROM {t} c JOIN {p} p ON p.id = c.parent_id WHERE c.status = $1",
    "SELECT count(*) FROM {t} WHERE code = $1 AND status > $2",
)


def _statements(n_tables: int, n_statements: int) -> tuple[list[Statement], list[PlanSummary]]:
    statements: list[Statement] = []
    for k in range(n_statements):
        i = 2 + (k * 37) % (n_tables - 1)
        shape = _SHAPES[k % len(_SHAPES)]
        query = shape.format(t=_name(i), p=_name(i - 1))
        calls = 10 + (k * 7919) % 100_000
        if k % 48 == 0:
            calls *= 100  # a hot lookup (WL03 looks for its parent): about a hundred
        mean = 150.0 if k % 50 == 7 else 0.05 + (k % 97) * 0.3  # one in 50 above WL01's 100 ms
        statements.append(Statement(
            queryid=str(1_000_000 + k), query=query, calls=calls, total_ms=calls * mean, mean_ms=mean,
            stddev_ms=mean / 2, min_ms=mean / 10, max_ms=mean * 20, rows=calls, shared_blks_hit=calls * 4,
            shared_blks_read=calls // 10, users={"app": calls}))
    costliest = sorted(statements, key=lambda s: -s.total_ms)[:EXPLAINED]
    plans = []
    for stmt in costliest:
        table = stmt.query.split(" FROM ")[1].split()[0] if " FROM " in stmt.query else stmt.query.split()[1]
        seq = "WHERE parent_id" in stmt.query or "count(*)" in stmt.query
        scan = PlanScan(schema="public", table=table, scan_type="Seq Scan" if seq else "Index Scan",
                        index=None if seq else f"{table}_pkey", plan_rows=1000.0 if seq else 1.0)
        plans.append(PlanSummary(queryid=stmt.queryid, explained=True, method="generic_plan", total_cost=100.0,
                                 plan_rows=1.0, scans=(scan,)))
    return statements, plans


def scale_snapshot(n_tables: int = 10_000, n_statements: int = 5_000) -> Snapshot:
    """A PostgreSQL snapshot of ``n_tables`` generated tables (about 4 indexes and 1.3 foreign keys each)."""
    tables: list[Table] = []
    indexes: list[Index] = []
    constraints: list[Constraint] = []
    sequences: list[Sequence] = []
    functions: list[DefinerFunction] = []
    io: list[RelationIo] = []
    for i in range(1, n_tables + 1):
        table, ixs, cons, seq = _table_objects(i)
        tables.append(table)
        indexes.extend(ixs)
        constraints.extend(cons)
        sequences.append(seq)
        functions.append(DefinerFunction(
            schema="public", name=f"{table.name}_touch", arguments="k integer", owner="app", language="sql",
            config=("search_path=public, pg_temp",) if i % 2 else (), public_execute=True))
        io.append(RelationIo("public", table.name, blks_read=i % 50, blks_hit=1000))
        io.extend(RelationIo("public", table.name, index=ix.name, blks_read=1, blks_hit=100) for ix in ixs)
    statements, plans = _statements(n_tables, n_statements)
    posture = Posture(
        login="postgres",
        settings=pg_settings(),
        roles=(Role(name="postgres", superuser=True), Role(name="app")),
        passwords_known=False,
        schema_privileges=(SchemaPrivileges(schema="public", owner="pg_database_owner"),),
        definer_functions=tuple(functions),
        database_stats=DatabaseStats(blks_read=1000, blks_hit=1_000_000, xact_commit=10_000, xact_rollback=5),
        io=tuple(io),
    )
    return Snapshot(
        engine="postgresql",
        server_version="15.20",
        server_version_num=150020,
        database="scale",
        collected_at=NOW,
        stats_reset=NOW - timedelta(days=30),
        extensions={"pg_stat_statements": "1.10", "plpgsql": "1.0"},
        capabilities=("superuser", "pg_read_all_stats"),
        schemas=("public",),
        tables=tuple(tables),
        indexes=tuple(indexes),
        constraints=tuple(constraints),
        sequences=tuple(sequences),
        statements=tuple(statements),
        plans=tuple(plans),
        workload=WorkloadInfo(status="ok", extension_version="1.10", statements_total=len(statements),
                              statements_explained=len(plans), explain_budget=EXPLAINED),
        posture=posture,
    )
