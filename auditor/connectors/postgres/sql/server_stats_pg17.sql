-- description: this database's counters (pg_stat_database, size) and the checkpoint counters of pg_stat_checkpointer
SELECT
    d.blks_read, d.blks_hit, d.temp_files, d.temp_bytes, d.deadlocks, d.conflicts, d.xact_commit,
    d.xact_rollback, d.numbackends, d.stats_reset,
    pg_catalog.pg_database_size(d.datid) AS size_bytes,
    'pg_stat_checkpointer' AS checkpoint_source,
    c.num_timed AS checkpoints_timed,
    c.num_requested AS checkpoints_requested,
    c.buffers_written AS checkpoint_buffers,
    c.write_time AS checkpoint_write_ms,
    c.sync_time AS checkpoint_sync_ms,
    c.stats_reset AS checkpoint_stats_reset
  FROM pg_catalog.pg_stat_database d
 CROSS JOIN pg_catalog.pg_stat_checkpointer c
 WHERE d.datname = current_database()
