-- Tables this account may see only some columns of: column-level privileges, and no privilege on the whole
-- table, its schema or all schemas. information_schema hides the other columns, and with them the keys and
-- indexes built on them, so a table with a primary key on a hidden column would read as having none: the
-- connector leaves these tables out and names them. Privileges held through a role do not show here (MariaDB
-- and MySQL list only the account's own grants): such a table is left out too, which costs a table, never a
-- false finding.
SELECT DISTINCT cp.TABLE_SCHEMA AS schema_name,
       cp.TABLE_NAME AS table_name,
       1 AS dbaudit_probe
  FROM information_schema.COLUMN_PRIVILEGES cp
 WHERE cp.TABLE_SCHEMA IN %(schemas)s
   AND cp.GRANTEE = CONCAT('''',
                           LEFT(CURRENT_USER(),
                                CHAR_LENGTH(CURRENT_USER()) - CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1),
                           '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')
   AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_PRIVILEGES tp
                    WHERE tp.GRANTEE = cp.GRANTEE AND tp.TABLE_SCHEMA = cp.TABLE_SCHEMA
                      AND tp.TABLE_NAME = cp.TABLE_NAME)
   AND NOT EXISTS (SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES sp
                    WHERE sp.GRANTEE = cp.GRANTEE AND cp.TABLE_SCHEMA LIKE sp.TABLE_SCHEMA)
   AND NOT EXISTS (SELECT 1 FROM information_schema.USER_PRIVILEGES up
                    WHERE up.GRANTEE = cp.GRANTEE AND up.PRIVILEGE_TYPE <> 'USAGE')
 ORDER BY 1, 2
