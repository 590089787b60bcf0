-- The official image creates the dbaudit user with all privileges on the blog database only; dbaudit also
-- reads performance_schema (statement digests, index usage) and needs PROCESS for some of it.
GRANT SELECT ON performance_schema.* TO 'dbaudit'@'%';
GRANT PROCESS ON *.* TO 'dbaudit'@'%';
FLUSH PRIVILEGES;
