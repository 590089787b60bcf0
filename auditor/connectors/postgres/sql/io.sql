-- description: buffer hits and reads of the audited tables (heap with TOAST) and of their indexes (pg_statio_*)
SELECT
    t.schemaname AS schema,
    t.relname AS "table",
    NULL::text AS "index",
    coalesce(t.heap_blks_read, 0) AS blks_read,
    coalesce(t.heap_blks_hit, 0) AS blks_hit,
    coalesce(t.toast_blks_read, 0) AS toast_blks_read,
    coalesce(t.toast_blks_hit, 0) AS toast_blks_hit
  FROM pg_catalog.pg_statio_user_tables t
 WHERE t.schemaname = ANY (%(schemas)s::text[])
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                    WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = t.relid AND e.deptype = 'e')
UNION ALL
SELECT
    i.schemaname,
    i.relname,
    i.indexrelname,
    coalesce(i.idx_blks_read, 0),
    coalesce(i.idx_blks_hit, 0),
    0,
    0
  FROM pg_catalog.pg_statio_user_indexes i
 WHERE i.schemaname = ANY (%(schemas)s::text[])
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                    WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = i.relid AND e.deptype = 'e')
 ORDER BY 1, 2, 3 NULLS FIRST
