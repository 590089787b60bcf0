-- description: where pgstattuple is installed and whether the audit role may run its functions (pg_stat_scan_tables)
SELECT
    n.nspname AS schema,
    e.extversion AS version,
    coalesce(pg_catalog.has_function_privilege(
        pg_catalog.to_regprocedure(pg_catalog.quote_ident(n.nspname) || '.pgstattuple_approx(regclass)'),
        'EXECUTE'), false) AS can_approx,
    coalesce(pg_catalog.has_function_privilege(
        pg_catalog.to_regprocedure(pg_catalog.quote_ident(n.nspname) || '.pgstatindex(regclass)'),
        'EXECUTE'), false) AS can_index
  FROM pg_catalog.pg_extension e
  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pgstattuple'
