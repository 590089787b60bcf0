-- description: who may create objects in each audited schema (pg_namespace ACLs, the defaults resolved)
SELECT
    n.nspname AS schema,
    pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
    EXISTS (SELECT 1 FROM pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
             WHERE a.grantee = 0 AND a.privilege_type = 'CREATE') AS public_create,
    EXISTS (SELECT 1 FROM pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
             WHERE a.grantee = 0 AND a.privilege_type = 'USAGE') AS public_usage,
    ARRAY(SELECT DISTINCT pg_catalog.pg_get_userbyid(a.grantee)::text
            FROM pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
           WHERE a.grantee NOT IN (0, n.nspowner) AND a.privilege_type = 'CREATE'
           ORDER BY 1) AS create_grantees
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname = ANY (%(schemas)s::text[])
 ORDER BY 1
