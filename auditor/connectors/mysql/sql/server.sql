-- Server identity: version string, flavor hint, the session's database and the server clock (UTC).
SELECT VERSION() AS server_version,
       @@version_comment AS version_comment,
       DATABASE() AS current_database,
       CURRENT_USER() AS current_user_name,
       UTC_TIMESTAMP(6) AS now_utc,
       1 AS dbaudit_probe  -- survives in the statement digest, which drops comments
