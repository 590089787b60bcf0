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
),
-- the audited columns, then each (type, typmod) pair's name once: format_type() per column cost a third of a
-- second at 70,000 columns, for a few distinct types
col AS MATERIALIZED (
    SELECT n.nspname, c.oid AS relid, c.relname, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
           a.attnum, a.attcollation, a.attidentity,
           -- a DEFAULT is variable-free (no column reference is allowed in it): deparsed without its table,
           -- whose opening (a lock, and on a new connection its relation cache entry built) cost half a second
           -- at 10,000 tables; a generation expression names columns, so it needs its table
           CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, 0, true) END AS default,
           CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) END AS generated,
           d.description AS comment
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      -- joined here, where the planner's estimate of the rows is closest (after the types' join it expected
      -- 100 rows, and looked both up once per column, 70,000 times each)
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      LEFT JOIN pg_catalog.pg_description d
             ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
       AND c.relkind IN ('r', 'p', 'f', 'm')
       AND n.nspname = ANY (%(schemas)s::text[])
       -- pg_get_expr of a generation expression locks the table: tables under ACCESS EXCLUSIVE are left out
       -- (locks.sql)
       AND c.oid <> ALL (%(locked)s::oid[])
       -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
       -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
       AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                          WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                            AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
),
type_name AS (
    SELECT t.atttypid, t.atttypmod, pg_catalog.format_type(t.atttypid, t.atttypmod) AS data_type
      FROM (SELECT DISTINCT atttypid, atttypmod FROM col) t
)
-- in no order: the client sorts each table's columns by position (a sort here spilled 70,000 wide rows)
SELECT
    a.nspname AS schema,
    a.relname AS table,
    a.attname AS name,
    tn.data_type,
    -- the type under a domain (through domains over domains); NULL where the type is no domain
    db.base_type,
    NOT a.attnotnull AS nullable,
    a.default,
    a.generated,
    a.comment,
    a.attnum AS position,
    a.attcollation AS collation,  -- the client compares the indexes' key collations with it (indexes.sql)
    CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity
  FROM col a
  JOIN type_name tn ON tn.atttypid = a.atttypid AND tn.atttypmod = a.atttypmod
  LEFT JOIN domain_base db ON db.domain = a.atttypid
