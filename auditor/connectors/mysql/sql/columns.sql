-- Columns of the audited schemas: full type (unsigned, lengths), nullability, default, extra, comment, collation.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       c.TABLE_SCHEMA AS schema_name,
       c.TABLE_NAME AS table_name,
       c.COLUMN_NAME AS column_name,
       c.ORDINAL_POSITION AS position,
       c.COLUMN_TYPE AS column_type,
       c.IS_NULLABLE AS is_nullable,
       c.COLUMN_DEFAULT AS column_default,
       c.EXTRA AS extra,
       c.COLUMN_COMMENT AS comment,
       c.GENERATION_EXPRESSION AS generation_expression,
       c.COLLATION_NAME AS collation_name
FROM information_schema.COLUMNS AS c
WHERE c.TABLE_SCHEMA IN %(schemas)s
-- no ORDER BY: the client puts each table's columns in ORDINAL_POSITION order; the server's sort of the rows
-- (COLUMN_TYPE and the defaults are TEXT, so it re-reads each row from an on-disk temporary table) took a quarter
-- of the query's server CPU (0.48 s -> 0.35 s for 10,000 tables)
