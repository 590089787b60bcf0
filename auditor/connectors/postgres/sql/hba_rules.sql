-- description: the authentication rules of pg_hba.conf as the server parsed them (pg_hba_file_rules, superusers only)
SELECT
    h.line_number AS line,
    h.type,
    h.database AS databases,
    h.user_name AS users,
    h.address,
    h.netmask,
    h.auth_method AS method,
    h.options,
    h.error,
    NULL::text AS file
  FROM pg_catalog.pg_hba_file_rules h
 ORDER BY h.line_number
