-- Index key positions (MySQL 5.7, MariaDB before 10.6): one row per key column in SEQ_IN_INDEX order.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       s.TABLE_SCHEMA AS schema_name,
       s.TABLE_NAME AS table_name,
       s.INDEX_NAME AS index_name,
       s.SEQ_IN_INDEX AS seq_in_index,
       s.COLUMN_NAME AS column_name,
       NULL AS expression,
       s.COLLATION AS collation,
       s.SUB_PART AS sub_part,
       s.NON_UNIQUE AS non_unique,
       s.INDEX_TYPE AS index_type,
       'YES' AS is_visible,
       s.INDEX_COMMENT AS comment
FROM information_schema.STATISTICS AS s
WHERE s.TABLE_SCHEMA IN %(schemas)s
ORDER BY s.TABLE_SCHEMA, s.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX
