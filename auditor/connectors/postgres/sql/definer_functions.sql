-- description: SECURITY DEFINER functions and procedures of the audited schemas with their settings and EXECUTE grant
SELECT
    n.nspname AS schema,
    p.proname AS name,
    pg_catalog.pg_get_function_identity_arguments(p.oid) AS arguments,
    CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window'
                   ELSE 'function' END AS kind,
    o.rolname AS owner,
    o.rolsuper AS owner_superuser,
    l.lanname AS language,
    coalesce(p.proconfig, '{}'::text[]) AS config,
    EXISTS (SELECT 1 FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
             WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_execute
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE p.prosecdef
   AND n.nspname = ANY (%(schemas)s::text[])
   -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
   -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
   AND p.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                      WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                        AND e.classid = 'pg_catalog.pg_proc'::regclass AND e.deptype = 'e')
 ORDER BY 1, 2, 3
