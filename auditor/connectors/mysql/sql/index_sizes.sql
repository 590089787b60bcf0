-- InnoDB persistent statistics: pages per index ('size') and leaf pages in use; needs SELECT on mysql.innodb_index_stats.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       s.database_name AS schema_name,
       s.table_name AS table_name,
       s.index_name AS index_name,
       SUM(CASE WHEN s.stat_name = 'size' THEN s.stat_value END) AS pages,
       SUM(CASE WHEN s.stat_name = 'n_leaf_pages' THEN s.stat_value END) AS leaf_pages
FROM mysql.innodb_index_stats AS s
WHERE s.database_name IN %(schemas)s
  AND s.stat_name IN ('size', 'n_leaf_pages')
GROUP BY s.database_name, s.table_name, s.index_name
