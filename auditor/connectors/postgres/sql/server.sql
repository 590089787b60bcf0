-- description: server version, a subset of settings, statistics reset and start times, the role's capabilities
SELECT
    current_setting('server_version') AS server_version,
    current_setting('server_version_num')::int AS server_version_num,
    current_database() AS database,
    current_user AS role,
    (SELECT json_object_agg(s.name, current_setting(s.name))
       FROM pg_catalog.pg_settings s
      WHERE s.name = ANY (%(settings)s::text[])
         OR s.name ~ '^autovacuum'
         OR s.name ~ '^pg_stat_statements\.'
         OR s.name ~ '^track_') AS settings,
    (SELECT d.stats_reset FROM pg_catalog.pg_stat_database d WHERE d.datname = current_database()) AS stats_reset,
    pg_catalog.pg_postmaster_start_time() AS server_started,
    -- what quote_ident() quotes besides names that are not lower case: the client writes the plain indexes'
    -- CREATE INDEX with them (indexes.sql)
    ARRAY(SELECT k.word FROM pg_catalog.pg_get_keywords() k WHERE k.catcode <> 'U') AS reserved_words,
    current_setting('quote_all_identifiers')::bool AS quote_all_identifiers,
    (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) AS is_superuser,
    -- superuser-only by default: the posture areas that read them run only when they may
    pg_catalog.has_table_privilege('pg_catalog.pg_hba_file_rules', 'SELECT')
        AND pg_catalog.has_function_privilege('pg_catalog.pg_hba_file_rules()', 'EXECUTE') AS can_read_hba,
    pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS can_read_authid,
    -- pg_read_all_data appeared in PostgreSQL 14: looked up by name so that 13 does not fail on it
    ARRAY(SELECT r.rolname::text
            FROM pg_catalog.pg_roles r
           WHERE r.rolname IN ('pg_read_all_stats', 'pg_monitor', 'pg_read_all_data', 'pg_read_all_settings')
             AND pg_catalog.pg_has_role(current_user, r.oid, 'USAGE')
           ORDER BY 1) AS member_of
