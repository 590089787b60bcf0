-- Tables and views of the audited schemas with row estimates, sizes, free space, storage engine and AUTO_INCREMENT counter.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       t.TABLE_SCHEMA AS schema_name,
       t.TABLE_NAME AS table_name,
       t.TABLE_TYPE AS table_type,
       t.ENGINE AS engine,
       t.TABLE_ROWS AS estimated_rows,
       t.DATA_LENGTH AS table_bytes,
       t.INDEX_LENGTH AS index_bytes,
       t.DATA_FREE AS data_free,  -- free space in the tablespace (the maintenance area, InnoDB tables)
       t.AUTO_INCREMENT AS auto_increment,
       t.CREATE_OPTIONS AS create_options,
       -- epoch seconds: the table's creation or last ALTER (CREATE/DROP INDEX included), when its index counters restart
       UNIX_TIMESTAMP(t.CREATE_TIME) AS altered_epoch,
       t.TABLE_COMMENT AS comment
FROM information_schema.TABLES AS t
WHERE t.TABLE_SCHEMA IN %(schemas)s
ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME
