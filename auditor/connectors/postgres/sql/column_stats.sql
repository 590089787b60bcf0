-- description: planner statistics per column (pg_stats): share of NULLs, number of distinct values, average width
-- Read once for the columns and for the bloat estimates (table_bloat.sql, index_bloat.sql): pg_stats checks
-- the role's privilege on every column, a second or more at 10,000 tables. Its rows include the expression
-- columns of indexes (under the index's name), which the B-tree estimate needs.
-- pg_stats shows only the columns the role may read. An inheritance parent has two rows per column (its own,
-- and one with its children's rows: inherited), a partitioned parent only the inherited one: the client keeps
-- the table's own row where both exist (no sort here: 100,000 rows at 10,000 tables)
SELECT
    s.schemaname AS schema,
    s.tablename AS table,
    s.attname AS name,
    s.inherited,
    s.null_frac,
    s.n_distinct,
    s.avg_width
  FROM pg_catalog.pg_stats s
 WHERE s.schemaname = ANY (%(schemas)s::text[])
