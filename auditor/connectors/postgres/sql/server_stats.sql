-- description: this database's counters (pg_stat_database, size) and the checkpoint counters of pg_stat_bgwriter
SELECT
    d.blks_read, d.blks_hit, d.temp_files, d.temp_bytes, d.deadlocks, d.conflicts, d.xact_commit,
    d.xact_rollback, d.numbackends, d.stats_reset,
    pg_catalog.pg_database_size(d.datid) AS size_bytes,
    'pg_stat_bgwriter' AS checkpoint_source,
    b.checkpoints_timed AS checkpoints_timed,
    b.checkpoints_req AS checkpoints_requested,
    b.buffers_checkpoint AS checkpoint_buffers,
    b.checkpoint_write_time AS checkpoint_write_ms,
    b.checkpoint_sync_time AS checkpoint_sync_ms,
    b.stats_reset AS checkpoint_stats_reset
  FROM pg_catalog.pg_stat_database d
 CROSS JOIN pg_catalog.pg_stat_bgwriter b
 WHERE d.datname = current_database()
