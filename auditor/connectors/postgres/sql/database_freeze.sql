-- description: freeze ages of every database of the server (datfrozenxid, datminmxid), readable by every role
SELECT
    d.datname AS name,
    pg_catalog.age(d.datfrozenxid) AS xid_age,
    pg_catalog.mxid_age(d.datminmxid) AS mxid_age,
    d.datallowconn AS allow_connections
  FROM pg_catalog.pg_database d
 ORDER BY 1
