-- description: this server's clock, WAL position and, on a standby, its receive and replay positions; when WAL
-- waits to be replayed, a second reading of the replay position half a second later (is replay moving?)
WITH reading AS (
    SELECT
        pg_catalog.statement_timestamp() AS server_time,
        pg_catalog.pg_is_in_recovery() AS in_recovery,
        (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()
              ELSE pg_catalog.pg_current_wal_lsn() END)::text AS current_lsn,
        pg_catalog.pg_last_wal_receive_lsn() AS receive_lsn,
        pg_catalog.pg_last_wal_replay_lsn() AS replay_lsn,
        pg_catalog.pg_last_xact_replay_timestamp() AS last_replay_at,
        -- pg_is_wal_replay_paused() raises an error outside recovery
        CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_is_wal_replay_paused() END AS replay_paused
)
SELECT
    r.server_time,
    r.in_recovery,
    r.current_lsn,
    r.receive_lsn::text AS receive_lsn,
    r.replay_lsn::text AS replay_lsn,
    pg_catalog.pg_wal_lsn_diff(r.receive_lsn, r.replay_lsn)::bigint AS receive_replay_bytes,
    r.last_replay_at,
    r.replay_paused,
    -- while the primary writes, received WAL runs a record or a page ahead of replay: only a replay position
    -- that does not move tells a stalled standby from a caught-up one (a bounded 0.5 s wait, on a standby only)
    CASE WHEN r.in_recovery AND r.receive_lsn > r.replay_lsn THEN
        (SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_replay_lsn(), r.replay_lsn)::bigint
         FROM pg_catalog.pg_sleep(0.5))
    END AS replay_moved_bytes
FROM reading r
