-- description: roles as in roles.sql, plus the kind of each stored password (pg_authid, superusers only), never the hash
SELECT
    r.rolname AS name,
    r.rolcanlogin AS login,
    r.rolsuper AS superuser,
    r.rolreplication AS replication,
    r.rolbypassrls AS bypass_rls,
    r.rolcreaterole AS create_role,
    r.rolcreatedb AS create_db,
    r.rolvaliduntil AS valid_until,
    CASE WHEN r.rolsuper THEN '{}'::text[] ELSE ARRAY(
        SELECT p.rolname::text
          FROM pg_catalog.pg_roles p
         WHERE p.rolname IN ('pg_read_all_data', 'pg_write_all_data', 'pg_monitor', 'pg_read_all_settings',
                             'pg_read_all_stats', 'pg_stat_scan_tables', 'pg_signal_backend',
                             'pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program',
                             'pg_checkpoint', 'pg_maintain', 'pg_create_subscription', 'pg_use_reserved_connections')
           AND p.oid <> r.oid
           AND pg_catalog.pg_has_role(r.oid, p.oid, 'USAGE')
         ORDER BY 1) END AS member_of,
    pg_catalog.has_database_privilege(r.oid, current_database(), 'CONNECT') AS connect,
    -- the kind of hash only: the hash itself never leaves the server
    CASE WHEN r.rolpassword IS NULL THEN 'none'
         WHEN r.rolpassword ~ '^md5[0-9a-f]{32}$' THEN 'md5'
         WHEN r.rolpassword LIKE 'SCRAM-SHA-256$%%' THEN 'scram-sha-256'
         ELSE 'plain' END AS password
  FROM pg_catalog.pg_authid r
 WHERE r.rolname !~ '^pg_'
 ORDER BY 1
