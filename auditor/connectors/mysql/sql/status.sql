-- Server uptime in seconds (the usage counters start at server start) and the digests performance_schema lost.
SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Performance_schema_digest_lost')
