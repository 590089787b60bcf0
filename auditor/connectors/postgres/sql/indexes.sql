-- description: indexes with their keys in order (column or expression, ordering, opclass, collation), INCLUDE
-- columns, predicate, method, flags, the constraint they back, definition, size and scan counters
-- Most indexes are plain: column keys with the default operator class and collation, no predicate, no storage
-- parameter. Their keys come as the column numbers (indkey, named by the client from columns.sql) and the
-- ordering flags (indoption), and the client writes their CREATE INDEX as pg_get_indexdef() would: calling it,
-- or reading every key's attribute, operator class and collation, costs seconds at 40,000 indexes. The other
-- indexes get pg_get_indexdef() and their keys' details ("details": expression, opclass, collation per key).
-- {nulls_not_distinct} is pg_index.indnullsnotdistinct from PostgreSQL 15 on, false before.
-- the audited tables first, each judged once (an extension's member or not), not once per index
WITH tbl AS MATERIALIZED (
    SELECT t.oid, t.relname, t.relkind, n.nspname
      FROM pg_catalog.pg_class t
      JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
     WHERE t.relkind IN ('r', 'p', 'm')
       AND n.nspname = ANY (%(schemas)s::text[])
       -- pg_get_indexdef and pg_get_expr lock the table: tables under ACCESS EXCLUSIVE are left out (locks.sql)
       AND t.oid <> ALL (%(locked)s::oid[])
       -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
       -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
       AND t.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                          WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                            AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
),
default_opclass AS (
    SELECT array_agg(o.oid) AS oids FROM pg_catalog.pg_opclass o WHERE o.opcdefault
),
idx AS (
    SELECT i.indexrelid, i.indrelid, i.indkey, i.indnkeyatts, i.indoption, i.indclass, i.indcollation, i.indpred,
           i.indisunique, i.indisprimary, i.indisvalid, i.indisready, ic.relname AS index_name, ic.relkind AS index_kind, ic.reltuples AS index_tuples,
           ic.relpages AS index_pages, ic.relam, ic.relispartition AS index_is_partition, t.relname AS table_name,
           t.relkind AS table_kind, t.nspname,
           -- keys that plain column numbers do not describe: expressions, other operator classes or collations
           (i.indexprs IS NOT NULL
            OR NOT i.indclass::oid[] <@ (SELECT oids FROM default_opclass)
            OR NOT i.indcollation::oid[] <@ ARRAY[0, 100]::oid[]) AS has_details,
           -- what the client cannot write: a partitioned parent (ON ONLY), a predicate, storage parameters,
           -- NULLS NOT DISTINCT, DESC / NULLS FIRST
           (ic.relkind = 'I' OR i.indpred IS NOT NULL OR ic.reloptions IS NOT NULL OR {nulls_not_distinct}
            OR NOT i.indoption::int2[] <@ ARRAY[0]::int2[]) AS not_plain
      FROM tbl t
      JOIN pg_catalog.pg_index i ON i.indrelid = t.oid
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
)
SELECT
    i.nspname AS schema,
    i.table_name AS table,
    i.index_name AS name,
    i.indkey::int2[] AS attnums,  -- key columns, then INCLUDE columns; 0 for an expression
    i.indnkeyatts AS key_count,
    i.indoption::int2[] AS options,  -- per key: 1 DESC, 2 NULLS FIRST
    i.indcollation::oid[] AS collations,
    -- the keys' details, for the indexes that have some (few): a sub-plan run each, whose lookups go by key
    -- (a join for all of them let the planner hash pg_attribute whole, or compare every index with every one)
    CASE WHEN i.has_details THEN (
        SELECT json_agg(json_build_object(
                   -- per-position text, without ordering, opclass or collation (those come next)
                   'expression', CASE WHEN k.attnum = 0
                                      THEN pg_catalog.pg_get_indexdef(i.indexrelid, k.ord::int, true) END,
                   'opclass', CASE WHEN NOT opc.opcdefault THEN opc.opcname END,
                   'collation', CASE WHEN i.indcollation[k.ord - 1] <> 0
                                      AND i.indcollation[k.ord - 1] <> coalesce(a.attcollation, 100)
                                     THEN coll.collname END)
               ORDER BY k.ord)
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum <> 0
          LEFT JOIN pg_catalog.pg_opclass opc ON opc.oid = i.indclass[k.ord - 1]
          LEFT JOIN pg_catalog.pg_collation coll ON coll.oid = i.indcollation[k.ord - 1]
         WHERE k.ord <= i.indnkeyatts) END AS details,
    am.amname AS method,
    i.indisunique AS is_unique,
    i.indisprimary AS is_primary,
    pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
    i.indisvalid AS is_valid,
    i.indisready AS is_ready,
    con.conname AS constraint,
    CASE con.contype WHEN 'p' THEN 'primary_key' WHEN 'u' THEN 'unique' WHEN 'x' THEN 'exclusion' END
        AS constraint_type,
    CASE WHEN i.has_details OR i.not_plain THEN pg_catalog.pg_get_indexdef(i.indexrelid) END AS definition,
    -- relpages, not pg_relation_size(): no lock (see tables.sql); partitioned indexes have no storage
    CASE WHEN i.index_kind = 'I' THEN 0 WHEN i.index_tuples < 0 AND i.index_pages = 0 THEN NULL
         ELSE i.index_pages::bigint * current_setting('block_size')::bigint END AS size_bytes,
    -- the counters pg_stat_all_indexes shows (for indexes of tables and materialized views), without its joins
    CASE WHEN i.table_kind <> 'p' THEN pg_catalog.pg_stat_get_numscans(i.indexrelid) END AS scans,
    CASE WHEN i.table_kind <> 'p' THEN pg_catalog.pg_stat_get_tuples_returned(i.indexrelid) END AS tuples_read,
    CASE WHEN i.table_kind <> 'p' THEN pg_catalog.pg_stat_get_tuples_fetched(i.indexrelid) END AS tuples_fetched,
    i.index_is_partition AS is_partition_child
  FROM idx i
  JOIN pg_catalog.pg_am am ON am.oid = i.relam
  LEFT JOIN pg_catalog.pg_constraint con
         ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
 ORDER BY 1, 2, 3
