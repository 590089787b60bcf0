-- description: settings stored per role, per database and per role in this database (pg_db_role_setting)
SELECT
    r.rolname AS role,
    d.datname AS database,
    s.setconfig AS settings
  FROM pg_catalog.pg_db_role_setting s
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
  LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
 WHERE s.setdatabase = 0
    OR s.setdatabase = (SELECT o.oid FROM pg_catalog.pg_database o WHERE o.datname = current_database())
 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST
