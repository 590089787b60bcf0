-- Server uptime in seconds: the usage counters (performance_schema) start at server start.
SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime')
