-- description: schemas that could be audited (not system, not temporary, not created by an extension), each with whether --schema / --exclude-schema select it
-- Every candidate comes back, selected or not, so that a pattern matching nothing can be reported with the
-- schemas that exist, at no extra round trip.
SELECT n.nspname AS name,
       (cardinality(%(include)s::text[]) = 0 OR n.nspname ~ ANY (%(include)s::text[])) AS included,
       coalesce(n.nspname ~ ANY (%(exclude)s::text[]), false) AS excluded
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname !~ '^pg_'  -- pg_catalog, pg_toast*, pg_temp_*: the pg_ prefix is reserved for the system
   AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
 ORDER BY 1
