-- How each connection came in (performance_schema.threads.CONNECTION_TYPE: Socket, TCP/IP, SSL/TLS, ...).
SELECT 1 AS dbaudit_probe,
       th.PROCESSLIST_ID AS pid,
       th.CONNECTION_TYPE AS connection_type
FROM performance_schema.threads AS th
WHERE th.PROCESSLIST_ID IS NOT NULL
