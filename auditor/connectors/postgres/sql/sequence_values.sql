-- description: the last value of a batch of sequences, read after the catalog's COMMIT, one statement a batch
-- pg_sequence_last_value() takes a ROW EXCLUSIVE lock on each sequence until the end of the transaction: in
-- autocommit that is this statement, and a batch bounds how many locks it holds at once (the server's shared lock
-- table is sized max_locks_per_transaction x max_connections). A sequence that an ALTER SEQUENCE, a DROP or a
-- TRUNCATE ... RESTART IDENTITY holds (a lock that conflicts with ROW EXCLUSIVE, granted or waiting) is not waited
-- for: it comes back locked, its last value unread. last_value is NULL when the sequence was never called.
-- Every function call sits in a CASE after the relkind test: a WHERE clause may be evaluated in any order, and
-- has_sequence_privilege() or pg_sequence_last_value() on a relation of another kind raises an error.
SELECT
    v.schema,
    v.name,
    v.readable,
    v.locked,
    CASE WHEN v.readable AND NOT v.locked THEN pg_catalog.pg_sequence_last_value(v.oid::regclass) END AS last_value
  FROM (SELECT n.nspname AS schema, c.relname AS name, c.oid,
               CASE WHEN c.relkind = 'S' THEN pg_catalog.has_sequence_privilege(c.oid, 'SELECT,USAGE')
                    ELSE false END AS readable,
               h.relation IS NOT NULL AS locked
          FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS want(schema, name)
          JOIN pg_catalog.pg_namespace n ON n.nspname = want.schema
          JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = want.name
          -- pg_locks read once for the batch
          LEFT JOIN (SELECT DISTINCT l.relation
                       FROM pg_catalog.pg_locks l
                      WHERE l.locktype = 'relation'
                        AND l.database = (SELECT oid FROM pg_catalog.pg_database
                                           WHERE datname = pg_catalog.current_database())
                        AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                                       'AccessExclusiveLock')) AS h
                 ON h.relation = c.oid
        OFFSET 0) AS v
