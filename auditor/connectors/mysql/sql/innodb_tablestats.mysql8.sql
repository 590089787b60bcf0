-- InnoDB's statistics counters per table (rows counted, rows modified since) and its tablespace; needs PROCESS.
-- NAME is 'schema/table' in InnoDB's file-name encoding; only tables InnoDB has opened since the start appear.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       s.NAME AS name,
       s.STATS_INITIALIZED AS initialized,
       s.NUM_ROWS AS num_rows,
       s.MODIFIED_COUNTER AS modified,
       t.SPACE AS space
FROM information_schema.INNODB_TABLESTATS AS s
-- information_schema's InnoDB views have no index: joined directly, the server compares every pair of tables
-- (23 s for 12,000 tables); grouped, the derived table is materialized with a key on TABLE_ID (0.07 s)
JOIN (SELECT TABLE_ID, MIN(SPACE) AS SPACE FROM information_schema.INNODB_TABLES GROUP BY TABLE_ID) AS t
  ON t.TABLE_ID = s.TABLE_ID
