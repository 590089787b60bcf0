-- description: tables another session holds or waits for under ACCESS EXCLUSIVE (ALTER TABLE, TRUNCATE, DROP, REINDEX in progress): the catalog queries leave them out rather than wait
-- pg_get_expr, pg_get_indexdef and pg_get_constraintdef of a CHECK take an ACCESS SHARE lock on the table, and
-- that lock queues behind a granted or a waiting ACCESS EXCLUSIVE: reading those tables would stall the whole
-- area query until lock_timeout. A lock on an index or a TOAST table counts for the table it belongs to.
-- pg_locks is read live (it is not part of the transaction's snapshot), so a retry sees the current holders.
SELECT DISTINCT
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
 ORDER BY 2, 3
