-- description: tables another session holds or waits for under ACCESS EXCLUSIVE (ALTER TABLE, TRUNCATE, DROP, REINDEX in progress), or dropped since the transaction's snapshot: the catalog queries leave them out rather than wait or fail
-- pg_get_expr, pg_get_indexdef and pg_get_constraintdef of a CHECK take an ACCESS SHARE lock on the table, and
-- that lock queues behind a granted or a waiting ACCESS EXCLUSIVE: reading those tables would stall the whole
-- area query until lock_timeout. A lock on an index or a TOAST table counts for the table it belongs to.
-- pg_locks is read live (it is not part of the transaction's snapshot), so a retry sees the current holders.
SELECT
    c.oid::bigint AS oid,
    n.nspname AS schema,
    c.relname AS name,
    CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END AS kind
  FROM pg_catalog.pg_locks l
  LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = l.relation
  LEFT JOIN pg_catalog.pg_class owner ON owner.reltoastrelid = l.relation
  JOIN pg_catalog.pg_class c ON c.oid = coalesce(i.indrelid, owner.oid, l.relation)
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE l.locktype = 'relation'
   AND l.mode = 'AccessExclusiveLock'
   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
   AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
   AND n.nspname = ANY (%(schemas)s::text[])
UNION
-- dropped (and committed) after the snapshot was taken: the snapshot still shows the table, but the deparsing
-- functions (pg_get_constraintdef, pg_get_expr, pg_get_indexdef) look it up in the current catalog and fail with
-- "cache lookup failed"; has_table_privilege() on an OID looks there too, and is NULL for one that is gone. Asked
-- for (%(dropped)s) only when an area failed so: a call per relation, ~0.1 s at 10,000 tables
SELECT c.oid::bigint, n.nspname, c.relname, CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE %(dropped)s::boolean
   AND n.nspname = ANY (%(schemas)s::text[])
   AND c.relkind IN ('r', 'p', 'm', 'f', 'v', 'S')
   AND pg_catalog.has_table_privilege(c.oid, 'SELECT') IS NULL
 ORDER BY 2, 3
