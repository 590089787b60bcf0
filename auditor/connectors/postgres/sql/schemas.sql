-- description: schemas to audit: not system, not temporary, not created by an extension, matching the patterns
SELECT n.nspname AS name
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname !~ '^pg_'  -- pg_catalog, pg_toast*, pg_temp_*: the pg_ prefix is reserved for the system
   AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
   AND (cardinality(%(include)s::text[]) = 0 OR n.nspname ~ ANY (%(include)s::text[]))
   AND NOT n.nspname ~ ANY (%(exclude)s::text[])
 ORDER BY 1
