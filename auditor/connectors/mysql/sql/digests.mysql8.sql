-- The recorded workload of the audited schemas (MySQL 8: with server-side quantiles and one sample text).
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       d.SCHEMA_NAME AS schema_name,
       d.DIGEST AS digest,
       d.DIGEST_TEXT AS digest_text,
       d.COUNT_STAR AS calls,
       d.SUM_TIMER_WAIT AS total_ps,
       d.MIN_TIMER_WAIT AS min_ps,
       d.AVG_TIMER_WAIT AS avg_ps,
       d.MAX_TIMER_WAIT AS max_ps,
       d.SUM_ROWS_SENT AS rows_sent,
       d.SUM_ROWS_AFFECTED AS rows_affected,
       d.SUM_ROWS_EXAMINED AS rows_examined,
       d.SUM_NO_INDEX_USED AS no_index_used,
       UNIX_TIMESTAMP(d.FIRST_SEEN) AS first_seen,  -- epoch seconds: a TRUNCATE of the table starts entries anew
       d.QUANTILE_95 AS quantile_95_ps,
       d.QUANTILE_99 AS quantile_99_ps,
       d.QUERY_SAMPLE_TEXT AS sample_text,
       -- a full table counts the executions of statements it has no row for in one row with DIGEST NULL,
       -- from the moment it filled (FIRST_SEEN) until a TRUNCATE
       (SELECT o.COUNT_STAR FROM performance_schema.events_statements_summary_by_digest AS o
         WHERE o.DIGEST IS NULL LIMIT 1) AS overflow_calls,
       (SELECT UNIX_TIMESTAMP(o.FIRST_SEEN) FROM performance_schema.events_statements_summary_by_digest AS o
         WHERE o.DIGEST IS NULL LIMIT 1) AS overflow_since,
       (SELECT c.ENABLED FROM performance_schema.setup_consumers AS c
         WHERE c.NAME = 'statements_digest') AS digest_consumer
FROM performance_schema.events_statements_summary_by_digest AS d
-- no default database (SCHEMA_NAME NULL): kept when the text qualifies an audited schema's tables (the client decides)
WHERE (d.SCHEMA_NAME IN %(schemas)s OR d.SCHEMA_NAME IS NULL)
  AND d.DIGEST IS NOT NULL
