-- description: planner statistics per column as column_stats.sql reads them, from pg_statistic directly (superusers)
-- What pg_stats shows a superuser, row for row: every column's statistics (no column privilege hides one from a
-- superuser, and row-level security does not apply to one), without the view's privilege check per column,
-- which costs a second or more at 10,000 tables. Other roles read pg_stats (column_stats.sql).
SELECT
    n.nspname AS schema,
    c.relname AS table,
    a.attname AS name,
    s.stainherit AS inherited,
    s.stanullfrac AS null_frac,
    s.stadistinct AS n_distinct,
    s.stawidth AS avg_width
  FROM pg_catalog.pg_statistic s
  JOIN pg_catalog.pg_class c ON c.oid = s.starelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  -- each row's attribute by both keys of its index: joined directly, the plan matched on the table only and
  -- compared every attribute of the table (700,000 comparisons at 10,000 tables); a subquery that is not
  -- flattened (OFFSET 0) keeps both keys in its index condition
 CROSS JOIN LATERAL (SELECT a.attname FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = s.starelid AND a.attnum = s.staattnum AND NOT a.attisdropped
                     OFFSET 0) a
 WHERE n.nspname = ANY (%(schemas)s::text[])
