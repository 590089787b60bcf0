-- description: heap size estimate inputs per table (as the ioguix / pgexperts bloat queries): columns, fillfactor
-- The widths and NULL shares come from column_stats.sql's pg_stats rows, joined by the client: pg_stats costs
-- a second per row (its privilege checks), so it is read once for all the areas that need it. pg_stats shows
-- only the columns the role may read: a column without a row makes the estimate unusable, and the check then
-- skips the table saying why; nothing here reads a table's pages
-- The tables first, each with its fillfactor and privilege once (a materialized CTE: inlined, both were
-- computed per column, and the columns of 10,000 tables were sorted to group them again), then each table's
-- columns by its own index scan
WITH tbl AS MATERIALIZED (
    SELECT c.oid, n.nspname AS schema, c.relname AS "table", c.reltuples, c.relpages,
           coalesce((SELECT substring(o FROM '^fillfactor=(\d+)$')::int
                       FROM pg_catalog.unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%%' LIMIT 1), 100)
               AS fillfactor,
           pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm')
       AND c.relpages > 0
       AND n.nspname = ANY (%(schemas)s::text[])
       AND c.oid <> ALL (%(locked)s::oid[])
       -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
       -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
       AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                          WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                            AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
)
SELECT
    t.oid,
    t.schema,
    t."table",
    t.relpages AS pages,
    t.reltuples,
    t.fillfactor,
    t.readable,
    current_setting('block_size')::int AS block_size,
    coalesce(a.column_names, ARRAY[]::text[]) AS column_names,
    coalesce(a.has_name, false) AS has_name
  FROM tbl t
 CROSS JOIN LATERAL (SELECT array_agg(a.attname::text ORDER BY a.attnum) AS column_names,
                            bool_or(a.atttypid = 'pg_catalog.name'::pg_catalog.regtype) AS has_name
                       FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped) a
 ORDER BY 1, 2
