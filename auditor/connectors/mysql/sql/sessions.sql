-- Threads of the whole server (PROCESSLIST) with their open InnoDB transaction; ages in seconds.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       p.ID AS pid,
       p.USER AS user_name,
       p.HOST AS host,
       p.DB AS database_name,
       p.COMMAND AS command,
       p.TIME AS state_seconds,
       LEFT(p.INFO, 1024) AS statement,  -- redacted by the connector, then cut shorter
       p.ID = CONNECTION_ID() AS is_self,
       t.trx_state AS trx_state,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS trx_seconds,
       t.trx_rows_modified AS rows_modified
FROM information_schema.PROCESSLIST AS p
LEFT JOIN information_schema.INNODB_TRX AS t ON t.trx_mysql_thread_id = p.ID
ORDER BY p.ID
