-- MariaDB 10.4+ accounts and roles (mysql.user, ACCOUNT LOCK from mysql.global_priv): plugin, whether the stored
-- password is empty, lock, the privileges on *.*; never the hash.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       u.User AS user_name,
       u.Host AS host,
       u.plugin,
       -- compared on the server: the hash itself is never fetched
       COALESCE(authentication_string, '') = '' AS empty_password,
       u.password_expired = 'Y' OR COALESCE(JSON_VALUE(g.Priv, '$.account_locked'), '') IN ('1', 'true') AS locked,
       is_role = 'Y' AS is_role,
       u.default_role AS default_role,
       CONCAT_WS(',', IF(Select_priv = 'Y', 'SELECT', NULL), IF(Insert_priv = 'Y', 'INSERT', NULL),
                 IF(Update_priv = 'Y', 'UPDATE', NULL), IF(Delete_priv = 'Y', 'DELETE', NULL),
                 IF(Create_priv = 'Y', 'CREATE', NULL), IF(Drop_priv = 'Y', 'DROP', NULL),
                 IF(Reload_priv = 'Y', 'RELOAD', NULL), IF(Shutdown_priv = 'Y', 'SHUTDOWN', NULL),
                 IF(Process_priv = 'Y', 'PROCESS', NULL), IF(File_priv = 'Y', 'FILE', NULL),
                 IF(References_priv = 'Y', 'REFERENCES', NULL), IF(Index_priv = 'Y', 'INDEX', NULL),
                 IF(Alter_priv = 'Y', 'ALTER', NULL), IF(Show_db_priv = 'Y', 'SHOW DATABASES', NULL),
                 IF(Super_priv = 'Y', 'SUPER', NULL), IF(Create_tmp_table_priv = 'Y', 'CREATE TEMPORARY TABLES', NULL),
                 IF(Lock_tables_priv = 'Y', 'LOCK TABLES', NULL), IF(Execute_priv = 'Y', 'EXECUTE', NULL),
                 IF(Repl_slave_priv = 'Y', 'REPLICATION SLAVE', NULL),
                 IF(Repl_client_priv = 'Y', 'REPLICATION CLIENT', NULL),
                 IF(Create_view_priv = 'Y', 'CREATE VIEW', NULL), IF(Show_view_priv = 'Y', 'SHOW VIEW', NULL),
                 IF(Create_routine_priv = 'Y', 'CREATE ROUTINE', NULL),
                 IF(Alter_routine_priv = 'Y', 'ALTER ROUTINE', NULL),
                 IF(Create_user_priv = 'Y', 'CREATE USER', NULL), IF(Event_priv = 'Y', 'EVENT', NULL),
                 IF(Trigger_priv = 'Y', 'TRIGGER', NULL),
                 IF(Create_tablespace_priv = 'Y', 'CREATE TABLESPACE', NULL)) AS privileges,
       Grant_priv = 'Y' AS grant_option
FROM mysql.user u
     LEFT JOIN mysql.global_priv g ON g.User = u.User AND g.Host = u.Host
ORDER BY u.User, u.Host
