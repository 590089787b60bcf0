-- Free space (DATA_FREE) and table options of the audited InnoDB tables; readable wherever the tables are.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       t.TABLE_SCHEMA AS schema_name,
       t.TABLE_NAME AS table_name,
       t.DATA_FREE AS data_free,
       t.CREATE_OPTIONS AS create_options
FROM information_schema.TABLES AS t
WHERE t.TABLE_SCHEMA IN %(schemas)s
  AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')
  AND t.ENGINE = 'InnoDB'
ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME
