-- Reads and writes per index since server start (performance_schema); INDEX_NAME NULL is the table-scan row.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       u.OBJECT_SCHEMA AS schema_name,
       u.OBJECT_NAME AS table_name,
       u.INDEX_NAME AS index_name,
       u.COUNT_READ AS count_read,
       u.COUNT_FETCH AS count_fetch,
       u.COUNT_INSERT AS count_insert,
       u.COUNT_UPDATE AS count_update,
       u.COUNT_DELETE AS count_delete
FROM performance_schema.table_io_waits_summary_by_index_usage AS u
WHERE u.OBJECT_TYPE = 'TABLE'
  AND u.OBJECT_SCHEMA IN %(schemas)s
