-- description: tables, partitioned and foreign tables, materialized views: rows, sizes, comment, parent, counters
SELECT
    n.nspname AS schema,
    c.relname AS name,
    CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned' WHEN 'f' THEN 'foreign'
                   WHEN 'm' THEN 'materialized_view' END AS kind,
    -- never analyzed: -1 since PostgreSQL 14; 13 keeps 0 with no page counted and no vacuum/analyze on record
    CASE WHEN c.reltuples < 0 THEN NULL
         WHEN current_setting('server_version_num')::int < 140000 AND c.reltuples = 0 AND c.relpages = 0
              AND coalesce(s.last_analyze, s.last_autoanalyze, s.last_vacuum, s.last_autovacuum) IS NULL THEN NULL
         ELSE c.reltuples::bigint END AS estimated_rows,
    pg_catalog.pg_total_relation_size(c.oid) AS total_bytes,
    pg_catalog.pg_relation_size(c.oid) AS table_bytes,
    pg_catalog.pg_indexes_size(c.oid) AS index_bytes,
    CASE WHEN c.reltoastrelid <> 0 THEN pg_catalog.pg_total_relation_size(c.reltoastrelid) END AS toast_bytes,
    d.description AS comment,
    pn.nspname AS parent_schema,
    pc.relname AS parent_name,
    c.relispartition AS is_partition,
    pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable,
    s.seq_scan, s.seq_tup_read, s.idx_scan, s.idx_tup_fetch,
    s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
    s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
    s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_description d
         ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
  LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid AND i.inhseqno = 1
  LEFT JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
  LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
  LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p', 'f', 'm')
   AND n.nspname = ANY (%(schemas)s::text[])
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                    WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
 ORDER BY 1, 2
