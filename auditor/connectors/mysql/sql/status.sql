-- Server uptime, the digests performance_schema lost, and the counters the settings checks read (connections, InnoDB buffer pool).
SHOW GLOBAL STATUS WHERE Variable_name IN (
    'Uptime', 'Uptime_since_flush_status', 'Performance_schema_digest_lost',
    'Max_used_connections', 'Max_used_connections_time', 'Threads_connected', 'Threads_running',
    'Connection_errors_max_connections', 'Aborted_connects',
    'Innodb_buffer_pool_read_requests', 'Innodb_buffer_pool_reads', 'Innodb_buffer_pool_wait_free',
    'Innodb_buffer_pool_pages_total', 'Innodb_buffer_pool_pages_free', 'Innodb_buffer_pool_pages_data',
    'Innodb_buffer_pool_bytes_data', 'Innodb_row_lock_waits', 'Innodb_row_lock_time', 'Innodb_deadlocks',
    'Created_tmp_tables', 'Created_tmp_disk_tables')
