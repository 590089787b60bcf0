-- CHECK constraints (MariaDB 10.2+): names are per table; a column-level check is named after its column.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       cc.CONSTRAINT_SCHEMA AS schema_name,
       cc.TABLE_NAME AS table_name,
       cc.CONSTRAINT_NAME AS constraint_name,
       cc.LEVEL AS level,
       cc.CHECK_CLAUSE AS check_clause
FROM information_schema.CHECK_CONSTRAINTS AS cc
WHERE cc.CONSTRAINT_SCHEMA IN %(schemas)s
ORDER BY cc.CONSTRAINT_SCHEMA, cc.TABLE_NAME, cc.CONSTRAINT_NAME
