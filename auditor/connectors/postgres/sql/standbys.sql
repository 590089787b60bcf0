-- description: standbys streaming from this server (pg_stat_replication), positions hidden without pg_read_all_stats
SELECT
    r.pid,
    r.usename::text AS "user",
    r.application_name,
    pg_catalog.host(r.client_addr) AS client_addr,
    r.state,
    r.sync_state,
    (SELECT s.slot_name::text FROM pg_catalog.pg_replication_slots s WHERE s.active_pid = r.pid LIMIT 1) AS slot,
    r.sent_lsn::text AS sent_lsn,
    r.replay_lsn::text AS replay_lsn,
    CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
         ELSE pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn)::bigint
    END AS replay_lag_bytes,
    EXTRACT(EPOCH FROM r.write_lag)::float8 AS write_lag_s,
    EXTRACT(EPOCH FROM r.flush_lag)::float8 AS flush_lag_s,
    EXTRACT(EPOCH FROM r.replay_lag)::float8 AS replay_lag_s,
    pg_catalog.age(r.backend_xmin) AS xmin_age,
    -- what pg_stat_replication shows in full: the positions need pg_read_all_stats
    pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS visible
  FROM pg_catalog.pg_stat_replication r
 ORDER BY r.pid
