-- description: planner statistics per column (pg_stats): share of NULLs and number of distinct values
-- pg_stats shows only the columns the role may read. An inheritance parent has two rows per column (its own,
-- and one with its children's rows: inherited), a partitioned parent only the inherited one: the client keeps
-- the table's own row where both exist (no sort here: 100,000 rows at 10,000 tables)
SELECT
    s.schemaname AS schema,
    s.tablename AS table,
    s.attname AS name,
    s.inherited,
    s.null_frac,
    s.n_distinct
  FROM pg_catalog.pg_stats s
 WHERE s.schemaname = ANY (%(schemas)s::text[])
