-- description: B-tree size estimate inputs from pg_stats per index (as the ioguix btree bloat query): key widths, NULLs, fillfactor
-- an expression key's statistics are the index's own pg_stats rows (ANALYZE collects them); a key without
-- statistics makes the estimate unusable and the check skips the index saying why
WITH ix AS (
    SELECT x.indexrelid, x.indrelid, x.indkey, x.indnatts, n.nspname AS schema, tc.relname AS "table",
           ic.relname AS "index", ic.reltuples, ic.relpages, x.indpred IS NOT NULL AS partial,
           coalesce((SELECT substring(o FROM '^fillfactor=(\d+)$')::int
                       FROM pg_catalog.unnest(ic.reloptions) o WHERE o LIKE 'fillfactor=%%' LIMIT 1), 90)
               AS fillfactor,
           current_setting('server_version_num')::int >= 130000
               AND NOT coalesce('deduplicate_items=off' = ANY (ic.reloptions), false)
               AND NOT x.indisunique AS deduplicated,
           pg_catalog.has_table_privilege(tc.oid, 'SELECT') AS readable
      FROM pg_catalog.pg_index x
      JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
      JOIN pg_catalog.pg_class tc ON tc.oid = x.indrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = tc.relnamespace
      JOIN pg_catalog.pg_am am ON am.oid = ic.relam
     WHERE am.amname = 'btree'
       AND ic.relkind = 'i'
       AND ic.relpages > 0
       AND x.indisvalid AND x.indisready
       AND tc.relkind IN ('r', 'm')
       AND n.nspname = ANY (%(schemas)s::text[])
       AND tc.oid <> ALL (%(locked)s::oid[])
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                        WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = tc.oid AND e.deptype = 'e')
),
-- the statistics of the audited schemas once, joined by equality below (an OR join would compare every key
-- with every row of pg_stats)
st AS MATERIALIZED (
    SELECT s.schemaname, s.tablename, s.attname, s.null_frac, s.avg_width
      FROM pg_catalog.pg_stats s
     WHERE s.schemaname = ANY (%(schemas)s::text[]) AND NOT s.inherited
),
keys AS (
    SELECT ix.indexrelid, ix.schema, ix."table", ix."index", ix.indkey[k.i] = 0 AS expression,
           coalesce(ts.null_frac, xs.null_frac) AS null_frac, coalesce(ts.avg_width, xs.avg_width) AS avg_width,
           (ts.attname IS NOT NULL OR xs.attname IS NOT NULL) AS has_stats
      FROM ix
     CROSS JOIN LATERAL pg_catalog.generate_series(0, ix.indnatts - 1) AS k(i)
      LEFT JOIN pg_catalog.pg_attribute ta ON ta.attrelid = ix.indrelid AND ta.attnum = ix.indkey[k.i]
      LEFT JOIN pg_catalog.pg_attribute ia ON ia.attrelid = ix.indexrelid AND ia.attnum = k.i + 1
      LEFT JOIN st ts ON ts.schemaname = ix.schema AND ts.tablename = ix."table" AND ts.attname = ta.attname
      LEFT JOIN st xs ON ix.indkey[k.i] = 0 AND xs.schemaname = ix.schema AND xs.tablename = ix."index"
                     AND xs.attname = ia.attname
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
    count(*) AS keys,
    count(*) FILTER (WHERE k.has_stats) AS with_stats,
    count(*) FILTER (WHERE k.expression) AS expressions,
    coalesce(max(k.null_frac), 0) AS max_null_frac,
    coalesce(sum((1 - coalesce(k.null_frac, 0)) * coalesce(k.avg_width, 0)), 0) AS data_width
  FROM ix
  JOIN keys k ON k.indexrelid = ix.indexrelid
 GROUP BY ix.indexrelid, ix.schema, ix."table", ix."index", ix.relpages, ix.reltuples, ix.fillfactor, ix.partial,
          ix.deduplicated, ix.readable
 ORDER BY 2, 3, 4
