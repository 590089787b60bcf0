-- description: freeze ages (relfrozenxid, relminmxid) of the audited tables and their TOAST, with storage parameters
-- pg_class is readable by every role; a partitioned parent holds no rows and has no relfrozenxid (age() of
-- the invalid xid would read as 2^31 - 1), so its ages stay NULL
SELECT
    n.nspname AS schema,
    c.relname AS "table",
    CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned' WHEN 'm' THEN 'materialized_view' END AS kind,
    CASE WHEN c.relkind IN ('r', 'm') THEN pg_catalog.age(c.relfrozenxid) END AS xid_age,
    CASE WHEN c.relkind IN ('r', 'm') THEN pg_catalog.mxid_age(c.relminmxid) END AS mxid_age,
    CASE WHEN t.oid IS NOT NULL THEN pg_catalog.age(t.relfrozenxid) END AS toast_xid_age,
    CASE WHEN t.oid IS NOT NULL THEN pg_catalog.mxid_age(t.relminmxid) END AS toast_mxid_age,
    coalesce(c.reloptions, '{}'::text[]) AS reloptions,
    coalesce(t.reloptions, '{}'::text[]) AS toast_reloptions,
    CASE WHEN c.relkind IN ('r', 'm') THEN c.relpages END AS pages,
    t.relpages AS toast_pages
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid AND c.reltoastrelid <> 0
 WHERE c.relkind IN ('r', 'p', 'm')
   AND n.nspname = ANY (%(schemas)s::text[])
   AND c.oid <> ALL (%(locked)s::oid[])
   -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
   -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
   AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                      WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                        AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
 ORDER BY 1, 2
