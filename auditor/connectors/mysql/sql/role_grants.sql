-- MariaDB roles granted to accounts and to other roles (mysql.roles_mapping; Host is '' for a role grantee).
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       m.User AS user_name,
       m.Host AS host,
       m.Role AS role_name
FROM mysql.roles_mapping AS m
ORDER BY m.User, m.Host, m.Role
