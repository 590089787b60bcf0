-- description: B-tree size estimate inputs per index (as the ioguix btree bloat query): keys, fillfactor, flags
-- The key widths and NULL shares come from column_stats.sql's pg_stats rows, joined by the client (pg_stats is
-- read once for all the areas that need it): a column key's are its table column's (the client names it from
-- attnums with columns.sql), an expression key's are the index's own pg_stats rows, which ANALYZE collects
-- (under the index's name and index_columns' name). A key without statistics makes the estimate unusable and
-- the check skips the index saying why
-- The audited tables first, each judged once (an extension's member or not, readable or not), then their
-- indexes: per index, the same tests cost 40,000 look-ups at 10,000 tables.
WITH tbl AS MATERIALIZED (
    SELECT tc.oid, tc.relname, n.nspname, pg_catalog.has_table_privilege(tc.oid, 'SELECT') AS readable
      FROM pg_catalog.pg_class tc
      JOIN pg_catalog.pg_namespace n ON n.oid = tc.relnamespace
     WHERE tc.relkind IN ('r', 'm')
       AND n.nspname = ANY (%(schemas)s::text[])
       AND tc.oid <> ALL (%(locked)s::oid[])
       -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
       -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
       AND tc.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                           WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                             AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
),
ix AS (
    SELECT x.indexrelid, x.indrelid, x.indkey, x.indexprs, tc.nspname AS schema, tc.relname AS "table",
           ic.relname AS "index", ic.reltuples, ic.relpages, x.indpred IS NOT NULL AS partial,
           -- the storage parameters are read only where there are some (a sub-plan run per index otherwise)
           CASE WHEN ic.reloptions IS NULL THEN 90
                ELSE coalesce((SELECT substring(o FROM '^fillfactor=(\d+)$')::int
                                 FROM pg_catalog.unnest(ic.reloptions) o WHERE o LIKE 'fillfactor=%%' LIMIT 1), 90)
           END AS fillfactor,
           current_setting('server_version_num')::int >= 130000
               AND NOT coalesce('deduplicate_items=off' = ANY (ic.reloptions), false)
               AND NOT x.indisunique AS deduplicated,
           tc.readable
      FROM tbl tc
      JOIN pg_catalog.pg_index x ON x.indrelid = tc.oid
      JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
      JOIN pg_catalog.pg_am am ON am.oid = ic.relam
     WHERE am.amname = 'btree'
       AND ic.relkind = 'i'
       AND ic.relpages > 0
       AND x.indisvalid AND x.indisready
)
SELECT
    ix.indexrelid AS oid,
    ix.schema,
    ix."table",
    ix."index",
    ix.relpages AS pages,
    ix.reltuples,
    ix.fillfactor,
    ix.partial,
    ix.deduplicated,
    ix.readable,
    current_setting('block_size')::int AS block_size,
    ix.indkey::int2[] AS attnums,  -- every key and INCLUDE position: the table column's number, 0 for an expression
    -- the index's own column names, where an expression's statistics are found (only expression indexes)
    CASE WHEN ix.indexprs IS NOT NULL THEN
        ARRAY(SELECT ia.attname::text FROM pg_catalog.pg_attribute ia
               WHERE ia.attrelid = ix.indexrelid AND ia.attnum > 0 ORDER BY ia.attnum) END AS index_columns
  FROM ix
 ORDER BY 2, 3, 4
