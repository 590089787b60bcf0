-- description: indexes with their keys in order (column or expression, ordering, opclass, collation), INCLUDE
-- columns, predicate, method, flags, the constraint they back, definition, size and scan counters
-- Every audited index's key positions in one pass, joined by hash to the indexes below (a correlated subquery
-- per index costs a sub-plan start each: seconds at 40,000 indexes)
WITH k AS (
    SELECT i.indexrelid,
           json_agg(json_build_object(
                'column', CASE WHEN k.attnum <> 0 THEN a.attname END,
                -- per-position text, without ordering, opclass or collation (those come next)
                'expression', CASE WHEN k.attnum = 0
                                   THEN pg_catalog.pg_get_indexdef(i.indexrelid, k.ord::int, true) END,
                'descending', (i.indoption[k.ord - 1] & 1) = 1,
                'nulls_first', (i.indoption[k.ord - 1] & 2) = 2,
                'opclass', CASE WHEN NOT opc.opcdefault THEN opc.opcname END,
                'collation', CASE WHEN i.indcollation[k.ord - 1] <> 0
                                   AND i.indcollation[k.ord - 1] <> coalesce(a.attcollation, 100)
                                  THEN coll.collname END)
            ORDER BY k.ord) FILTER (WHERE k.ord <= i.indnkeyatts) AS keys,
           array_agg(a.attname::text ORDER BY k.ord)
               FILTER (WHERE k.ord > i.indnkeyatts AND a.attname IS NOT NULL) AS include
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class kt ON kt.oid = i.indrelid
      JOIN pg_catalog.pg_namespace kn ON kn.oid = kt.relnamespace
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum <> 0
      LEFT JOIN pg_catalog.pg_opclass opc ON opc.oid = i.indclass[k.ord - 1]
      LEFT JOIN pg_catalog.pg_collation coll ON coll.oid = i.indcollation[k.ord - 1]
     WHERE kn.nspname = ANY (%(schemas)s::text[])
       AND kt.oid <> ALL (%(locked)s::oid[])
     GROUP BY i.indexrelid
)
SELECT
    n.nspname AS schema,
    t.relname AS table,
    ic.relname AS name,
    k.keys,
    coalesce(k.include, ARRAY[]::text[]) AS include,
    am.amname AS method,
    i.indisunique AS is_unique,
    i.indisprimary AS is_primary,
    pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
    i.indisvalid AS is_valid,
    i.indisready AS is_ready,
    con.conname AS constraint,
    CASE con.contype WHEN 'p' THEN 'primary_key' WHEN 'u' THEN 'unique' WHEN 'x' THEN 'exclusion' END
        AS constraint_type,
    pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
    -- relpages, not pg_relation_size(): no lock (see tables.sql); partitioned indexes have no storage
    CASE WHEN ic.relkind = 'I' THEN 0 WHEN ic.reltuples < 0 AND ic.relpages = 0 THEN NULL
         ELSE ic.relpages::bigint * current_setting('block_size')::bigint END AS size_bytes,
    s.idx_scan AS scans,
    s.idx_tup_read AS tuples_read,
    s.idx_tup_fetch AS tuples_fetched,
    ic.relispartition AS is_partition_child
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_catalog.pg_am am ON am.oid = ic.relam
  LEFT JOIN pg_catalog.pg_constraint con
         ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
  LEFT JOIN pg_catalog.pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
  LEFT JOIN k ON k.indexrelid = i.indexrelid
 WHERE t.relkind IN ('r', 'p', 'm')
   AND n.nspname = ANY (%(schemas)s::text[])
   -- pg_get_indexdef and pg_get_expr lock the table: tables under ACCESS EXCLUSIVE are left out (locks.sql)
   AND t.oid <> ALL (%(locked)s::oid[])
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                    WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = t.oid AND e.deptype = 'e')
 ORDER BY 1, 2, 3
