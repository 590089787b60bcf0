-- description: sessions and processes of the whole server (pg_stat_activity with pg_stat_ssl), one row each
SELECT
    a.pid,
    a.usename AS "user",
    a.datname AS database,
    a.application_name,
    a.backend_type,
    -- client_port -1: a Unix-domain socket; no address and no port: a server process (or a hidden session)
    CASE WHEN a.client_port = -1 THEN 'local'
         WHEN a.client_addr IS NULL THEN NULL
         WHEN a.client_addr << inet '127.0.0.0/8' OR a.client_addr = inet '::1' THEN 'loopback'
         ELSE 'remote' END AS client,
    pg_catalog.host(a.client_addr) AS client_addr,
    s.ssl,
    a.state,
    a.backend_start,
    a.xact_start,
    a.query_start,
    a.state_change,
    pg_catalog.age(a.backend_xid) AS xid_age,
    pg_catalog.age(a.backend_xmin) AS xmin_age,
    a.wait_event_type,
    a.wait_event,
    a.pid = pg_catalog.pg_backend_pid() AS is_self,
    -- what pg_stat_activity shows in full: the role's own sessions, or all with pg_read_all_stats
    (a.usesysid IS NOT NULL AND pg_catalog.pg_has_role(current_user, a.usesysid, 'USAGE'))
        OR pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS visible,
    pg_catalog.left(a.query, 1024) AS statement  -- redacted by the connector, then cut shorter
  FROM pg_catalog.pg_stat_activity a
  LEFT JOIN pg_catalog.pg_stat_ssl s ON s.pid = a.pid
 ORDER BY a.pid
