-- description: which column holds a TOAST-heavy table's out-of-line bytes: the average stored size (pg_column_size) of each large-value column over a sample of rows, for the 20 tables with the most TOAST
-- pg_stats' avg_width cannot tell: a value moved out of line counts there as its 18-byte pointer.
-- pg_column_size reads a value's size from its TOAST pointer without fetching the value; the sample reads
-- about 256 heap pages of each table (TABLESAMPLE SYSTEM, at most 2,000 rows). Tables the role may not
-- read, and small TOAST (under 1 MiB, or smaller than the heap), are left out.
WITH big AS (
    SELECT c.oid, n.nspname, c.relname, c.relpages
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid
     WHERE c.relkind IN ('r', 'm')
       AND n.nspname = ANY (%(schemas)s::text[])
       AND c.oid <> ALL (%(locked)s::oid[])
       AND tc.relpages >= 128
       AND tc.relpages >= c.relpages
       AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
     ORDER BY tc.relpages DESC
     LIMIT 20
)
SELECT
    b.nspname AS schema,
    b.relname AS table,
    a.attname AS column,
    (pg_catalog.xpath('/row/b/text()', pg_catalog.query_to_xml(pg_catalog.format(
        'SELECT coalesce(sum(pg_catalog.pg_column_size(%%I)), 0) / greatest(count(*), 1) AS b '
        'FROM (SELECT %%I FROM %%I.%%I TABLESAMPLE SYSTEM (%%s) LIMIT 2000) s',
        a.attname, a.attname, b.nspname, b.relname,
        least(100, greatest(0.01, 25600.0 / greatest(b.relpages, 1)))), false, true, '')))[1]::text::float8
        AS avg_bytes
  FROM big b
  JOIN pg_catalog.pg_attribute a ON a.attrelid = b.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE a.attstorage IN ('x', 'e', 'm')
   AND pg_catalog.has_column_privilege(b.oid, a.attnum, 'SELECT')
 ORDER BY 1, 2, 4 DESC, 3
