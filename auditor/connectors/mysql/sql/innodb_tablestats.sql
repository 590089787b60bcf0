-- InnoDB's statistics counters per table (rows counted, rows modified since) and its tablespace; needs PROCESS.
-- NAME is 'schema/table' in InnoDB's file-name encoding (decoded here through the server's filename character
-- set to match the audited schemas); only tables InnoDB has opened since the start appear.
-- Three parts the client pairs by TABLE_ID: 'stats' (the counters), 'space' (each table's tablespace) and
-- 'shared' (the tablespaces of the whole server that hold several tables). No JOIN: information_schema tables
-- have no index, so one compares every table of the server with every other one (30 s at 12,000 tables).
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       'stats' AS part,
       s.TABLE_ID AS table_id,
       s.NAME AS name,
       s.STATS_INITIALIZED AS initialized,
       s.NUM_ROWS AS num_rows,
       s.MODIFIED_COUNTER AS modified,
       NULL AS space
FROM information_schema.INNODB_SYS_TABLESTATS AS s
WHERE CONVERT(CAST(CAST(SUBSTRING_INDEX(s.NAME, '/', 1) AS BINARY) AS CHAR CHARACTER SET filename) USING utf8mb4)
      IN %(schemas)s
UNION ALL
SELECT 1, 'space', t.TABLE_ID, NULL, NULL, NULL, NULL, t.SPACE
FROM information_schema.INNODB_SYS_TABLES AS t
WHERE CONVERT(CAST(CAST(SUBSTRING_INDEX(t.NAME, '/', 1) AS BINARY) AS CHAR CHARACTER SET filename) USING utf8mb4)
      IN %(schemas)s
UNION ALL
SELECT 1, 'shared', NULL, NULL, NULL, NULL, NULL, t.SPACE
FROM information_schema.INNODB_SYS_TABLES AS t
WHERE t.SPACE <> 0
GROUP BY t.SPACE
HAVING COUNT(*) > 1
