-- description: transactions prepared for two-phase commit and not yet resolved (pg_prepared_xacts), one row each
SELECT
    p.gid,
    p.prepared,
    p.owner::text AS owner,
    p.database::text AS database,
    pg_catalog.age(p.transaction) AS xid_age
  FROM pg_catalog.pg_prepared_xacts p
 ORDER BY p.prepared, p.gid
