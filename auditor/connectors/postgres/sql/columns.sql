-- description: columns of the audited tables: formatted type, nullability, default, identity, generation, comment
-- each domain's type at the bottom of its chain, resolved once for all columns (not a recursive query per column)
WITH RECURSIVE chain(domain, base, typmod, depth) AS (
    SELECT t.oid, t.typbasetype, t.typtypmod, 1 FROM pg_catalog.pg_type t WHERE t.typtype = 'd'
    UNION ALL
    SELECT chain.domain, t.typbasetype, t.typtypmod, chain.depth + 1
      FROM chain JOIN pg_catalog.pg_type t ON t.oid = chain.base AND t.typtype = 'd'
),
domain_base AS (
    SELECT DISTINCT ON (domain) domain, pg_catalog.format_type(base, typmod) AS base_type
      FROM chain ORDER BY domain, depth DESC
)
SELECT
    n.nspname AS schema,
    c.relname AS table,
    a.attname AS name,
    pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
    -- the type under a domain (through domains over domains); NULL where the type is no domain
    db.base_type,
    NOT a.attnotnull AS nullable,
    CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) END AS default,
    CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) END AS generated,
    d.description AS comment,
    a.attnum AS position,
    a.attcollation AS collation,  -- the client compares the indexes' key collations with it (indexes.sql)
    CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN domain_base db ON db.domain = a.atttypid
  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  LEFT JOIN pg_catalog.pg_description d
         ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
   AND c.relkind IN ('r', 'p', 'f', 'm')
   AND n.nspname = ANY (%(schemas)s::text[])
   -- pg_get_expr locks the table: tables under ACCESS EXCLUSIVE are left out (locks.sql)
   AND c.oid <> ALL (%(locked)s::oid[])
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                    WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
 ORDER BY 1, 2, a.attnum
