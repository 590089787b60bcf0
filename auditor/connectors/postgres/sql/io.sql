-- description: buffer hits and reads of the audited tables (heap with TOAST) and of their indexes (pg_statio_*)
-- The figures of pg_statio_user_tables and pg_statio_user_indexes, from the functions those views call, for the
-- audited tables only: the views compute every column for every relation of the database, and the audited
-- tables' test (an extension's member or not) ran once per index (a second at 10,000 tables, together).
WITH tbl AS MATERIALIZED (
    SELECT c.oid, c.relname, n.nspname, nullif(c.reltoastrelid, 0) AS toast
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 't', 'm')
       AND n.nspname = ANY (%(schemas)s::text[])
       -- the views' "user" filter
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
       -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
       -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
       AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                          WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                            AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
)
SELECT
    t.nspname AS schema,
    t.relname AS "table",
    NULL::text AS "index",
    coalesce(pg_catalog.pg_stat_get_blocks_fetched(t.oid) - pg_catalog.pg_stat_get_blocks_hit(t.oid), 0)
        AS blks_read,
    coalesce(pg_catalog.pg_stat_get_blocks_hit(t.oid), 0) AS blks_hit,
    coalesce(pg_catalog.pg_stat_get_blocks_fetched(t.toast) - pg_catalog.pg_stat_get_blocks_hit(t.toast), 0)
        AS toast_blks_read,
    coalesce(pg_catalog.pg_stat_get_blocks_hit(t.toast), 0) AS toast_blks_hit
  FROM tbl t
UNION ALL
SELECT
    t.nspname,
    t.relname,
    i.relname,
    coalesce(pg_catalog.pg_stat_get_blocks_fetched(i.oid) - pg_catalog.pg_stat_get_blocks_hit(i.oid), 0),
    coalesce(pg_catalog.pg_stat_get_blocks_hit(i.oid), 0),
    0,
    0
  FROM tbl t
  JOIN pg_catalog.pg_index x ON x.indrelid = t.oid
  JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
 ORDER BY 1, 2, 3 NULLS FIRST
