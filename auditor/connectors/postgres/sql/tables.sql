-- description: tables, partitioned and foreign tables, materialized views: rows, sizes, comment, parent, counters
-- The index pages per table (for the tables and their TOAST tables) and the columns that row-level security
-- policies read come from one grouped pass each, joined by hash: a subquery per table cost a sub-plan start
-- each, a second at 10,000 tables.
WITH index_pages AS (
    SELECT x.indrelid, sum(xc.relpages)::bigint AS pages,
           -- pg_stat_all_tables' index counters, as the view sums them
           sum(pg_catalog.pg_stat_get_numscans(x.indexrelid))::bigint AS scans,
           sum(pg_catalog.pg_stat_get_tuples_fetched(x.indexrelid))::bigint AS tuples_fetched
      FROM pg_catalog.pg_index x
      JOIN pg_catalog.pg_class xc ON xc.oid = x.indexrelid
     GROUP BY x.indrelid
),
-- columns that row-level security policies read (a policy's expression depends on each column it uses)
policy_columns AS (
    SELECT pd.refobjid AS relid, array_agg(DISTINCT a.attname::text) AS columns
      FROM pg_catalog.pg_depend pd
      JOIN pg_catalog.pg_attribute a ON a.attrelid = pd.refobjid AND a.attnum = pd.refobjsubid
     WHERE pd.classid = 'pg_catalog.pg_policy'::regclass AND pd.refclassid = 'pg_catalog.pg_class'::regclass
       AND pd.refobjsubid > 0
     GROUP BY pd.refobjid
)
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
    -- sizes from pg_class.relpages (as of the last VACUUM, ANALYZE or CREATE INDEX) times the block size:
    -- pg_relation_size() would take an ACCESS SHARE lock on every relation, held to the end of the catalog
    -- transaction, and wait behind any ALTER TABLE; unknown (NULL) for a table never vacuumed nor analyzed
    CASE WHEN c.relkind IN ('p', 'f') THEN 0
         WHEN c.reltuples < 0 AND c.relpages = 0 THEN NULL
         ELSE (c.relpages + coalesce(toast.pages, 0) + coalesce(ix.pages, 0)) * bs.size END AS total_bytes,
    CASE WHEN c.relkind IN ('p', 'f') THEN 0
         WHEN c.reltuples < 0 AND c.relpages = 0 THEN NULL
         ELSE c.relpages * bs.size END AS table_bytes,
    CASE WHEN c.relkind IN ('p', 'f') THEN 0 ELSE coalesce(ix.pages, 0) * bs.size END AS index_bytes,
    CASE WHEN c.reltoastrelid <> 0 THEN toast.pages * bs.size END AS toast_bytes,
    d.description AS comment,
    pn.nspname AS parent_schema,
    pc.relname AS parent_name,
    c.relispartition AS is_partition,
    pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable,
    pol.columns AS policy_columns,
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
  CROSS JOIN (SELECT current_setting('block_size')::bigint AS size) bs
  -- the TOAST table and its index (an OR of the two would read pg_class whole per table)
  LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid AND c.reltoastrelid <> 0
  LEFT JOIN index_pages tix ON tix.indrelid = tc.oid
  CROSS JOIN LATERAL (SELECT tc.relpages::bigint + coalesce(tix.pages, 0) AS pages) toast  -- NULL without one
  LEFT JOIN index_pages ix ON ix.indrelid = c.oid
  -- pg_stat_all_tables' counters from the functions the view calls, for the audited tables only: the view
  -- computes them for every relation of the database, TOAST tables included. The view has tables and
  -- materialized views, no foreign tables, and partitioned tables in some versions only: whether it has one
  -- is asked of the view itself, by its key, for the few partitioned tables (OFFSET 0 keeps the look-up by
  -- key: else the planner may compute the whole view once, to hash it)
  LEFT JOIN LATERAL (
      SELECT pg_catalog.pg_stat_get_numscans(c.oid) AS seq_scan,
             pg_catalog.pg_stat_get_tuples_returned(c.oid) AS seq_tup_read,
             ix.scans AS idx_scan,
             ix.tuples_fetched + pg_catalog.pg_stat_get_tuples_fetched(c.oid) AS idx_tup_fetch,
             pg_catalog.pg_stat_get_tuples_inserted(c.oid) AS n_tup_ins,
             pg_catalog.pg_stat_get_tuples_updated(c.oid) AS n_tup_upd,
             pg_catalog.pg_stat_get_tuples_deleted(c.oid) AS n_tup_del,
             pg_catalog.pg_stat_get_tuples_hot_updated(c.oid) AS n_tup_hot_upd,
             pg_catalog.pg_stat_get_live_tuples(c.oid) AS n_live_tup,
             pg_catalog.pg_stat_get_dead_tuples(c.oid) AS n_dead_tup,
             pg_catalog.pg_stat_get_mod_since_analyze(c.oid) AS n_mod_since_analyze,
             pg_catalog.pg_stat_get_last_vacuum_time(c.oid) AS last_vacuum,
             pg_catalog.pg_stat_get_last_autovacuum_time(c.oid) AS last_autovacuum,
             pg_catalog.pg_stat_get_last_analyze_time(c.oid) AS last_analyze,
             pg_catalog.pg_stat_get_last_autoanalyze_time(c.oid) AS last_autoanalyze,
             pg_catalog.pg_stat_get_vacuum_count(c.oid) AS vacuum_count,
             pg_catalog.pg_stat_get_autovacuum_count(c.oid) AS autovacuum_count,
             pg_catalog.pg_stat_get_analyze_count(c.oid) AS analyze_count,
             pg_catalog.pg_stat_get_autoanalyze_count(c.oid) AS autoanalyze_count
  ) s ON c.relkind IN ('r', 'm')
          OR (c.relkind = 'p' AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_all_tables v WHERE v.relid = c.oid
                                              OFFSET 0))
  LEFT JOIN policy_columns pol ON pol.relid = c.oid
 WHERE c.relkind IN ('r', 'p', 'f', 'm')
   AND n.nspname = ANY (%(schemas)s::text[])
   AND c.oid <> ALL (%(locked)s::oid[])
   -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
   -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
   AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                      WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                        AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
 ORDER BY 1, 2
