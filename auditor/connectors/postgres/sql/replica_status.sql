-- description: this server's clock, WAL position and, on a standby, its receive and replay positions
SELECT
    pg_catalog.statement_timestamp() AS server_time,
    pg_catalog.pg_is_in_recovery() AS in_recovery,
    (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()
          ELSE pg_catalog.pg_current_wal_lsn() END)::text AS current_lsn,
    pg_catalog.pg_last_wal_receive_lsn()::text AS receive_lsn,
    pg_catalog.pg_last_wal_replay_lsn()::text AS replay_lsn,
    pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(),
                               pg_catalog.pg_last_wal_replay_lsn())::bigint AS receive_replay_bytes,
    pg_catalog.pg_last_xact_replay_timestamp() AS last_replay_at,
    -- pg_is_wal_replay_paused() raises an error outside recovery
    CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_is_wal_replay_paused() END AS replay_paused
