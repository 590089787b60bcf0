-- description: planner statistics per column (pg_stats): share of NULLs and number of distinct values
-- pg_stats shows only the columns the role may read; a partitioned parent has only inherited rows, so the
-- table's own row wins where both exist
SELECT DISTINCT ON (s.schemaname, s.tablename, s.attname)
    s.schemaname AS schema,
    s.tablename AS table,
    s.attname AS name,
    s.null_frac,
    s.n_distinct
  FROM pg_catalog.pg_stats s
 WHERE s.schemaname = ANY (%(schemas)s::text[])
 ORDER BY s.schemaname, s.tablename, s.attname, s.inherited
