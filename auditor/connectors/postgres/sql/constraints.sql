-- description: table constraints (primary key, unique, foreign key, check, exclusion) with columns and FK details,
-- plus the NOT VALID constraints of domains
-- Clones that partitioning makes of a parent's constraint (conparentid <> 0) are left out: the parent's row
-- stands for them. NOT NULL rows (contype 'n', PostgreSQL 18) are kept only while NOT VALID, as the other
-- versions have no such row and columns already carry their nullability.
-- The referenced columns' types come along (declared, and the type under a domain), so that KY02 can judge a
-- foreign key whose referenced table lies outside the audited schemas.
-- Domain constraints (contypid <> 0) have no table: only the unvalidated ones are read, for KY03, with the
-- domain's name in "domain" and an empty "table".
-- The foreign keys' referenced columns are read in one pass over all of them, joined by hash: names, declared
-- types, and the type under a domain (through domains over domains; NULL where the column's type is no domain),
-- each domain's resolved once: resolving it per column cost seconds at 10,000 foreign keys.
WITH RECURSIVE chain(domain, base, typmod, depth) AS (
    SELECT t.oid, t.typbasetype, t.typtypmod, 1 FROM pg_catalog.pg_type t WHERE t.typtype = 'd'
    UNION ALL
    SELECT chain.domain, t.typbasetype, t.typtypmod, chain.depth + 1
      FROM chain JOIN pg_catalog.pg_type t ON t.oid = chain.base AND t.typtype = 'd'
),
domain_base AS (  -- every domain's type at the bottom of its chain, once (few domains, however many columns)
    SELECT DISTINCT ON (domain) domain, pg_catalog.format_type(base, typmod) AS base_type
      FROM chain ORDER BY domain, depth DESC
),
ref AS (
    SELECT fk.oid,
           array_agg(a.attname::text ORDER BY k.ord) AS columns,
           array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY k.ord) AS types,
           array_agg(db.base_type ORDER BY k.ord) AS base_types
      FROM pg_catalog.pg_constraint fk
      JOIN pg_catalog.pg_class fc ON fc.oid = fk.conrelid
      JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
     CROSS JOIN LATERAL unnest(fk.confkey) WITH ORDINALITY AS k(attnum, ord)
      -- each key's attribute by both keys of pg_attribute's index: a subquery that is not flattened (OFFSET 0)
      -- (joined directly, the plan read every attribute of the referenced table for each foreign key)
     CROSS JOIN LATERAL (SELECT a.attname, a.atttypid, a.atttypmod FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid = fk.confrelid AND a.attnum = k.attnum OFFSET 0) a
      LEFT JOIN domain_base db ON db.domain = a.atttypid
     WHERE fk.contype = 'f' AND fn.nspname = ANY (%(schemas)s::text[])
     GROUP BY fk.oid
)
SELECT
    n.nspname AS schema,
    c.relname AS table,
    con.conname AS name,
    CASE con.contype WHEN 'p' THEN 'primary_key' WHEN 'u' THEN 'unique' WHEN 'f' THEN 'foreign_key'
                     WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion' WHEN 'n' THEN 'not_null' END AS type,
    -- the constrained columns' numbers, named by the client from columns.sql (a subquery per constraint
    -- naming them cost half a second at 23,000 constraints)
    con.conkey AS attnums,
    pg_catalog.pg_get_constraintdef(con.oid, true) AS definition,
    con.convalidated AS validated,
    con.condeferrable AS deferrable,
    rn.nspname AS ref_schema,
    rc.relname AS ref_table,
    coalesce(ref.columns, ARRAY[]::text[]) AS ref_columns,
    coalesce(ref.types, ARRAY[]::text[]) AS ref_column_types,
    coalesce(ref.base_types, ARRAY[]::text[]) AS ref_column_base_types,
    CASE WHEN con.contype = 'f' THEN
        CASE con.confupdtype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
                             WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END END AS on_update,
    CASE WHEN con.contype = 'f' THEN
        CASE con.confdeltype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
                             WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END END AS on_delete,
    CASE WHEN con.contype = 'f' THEN
        CASE con.confmatchtype WHEN 's' THEN 'simple' WHEN 'f' THEN 'full' WHEN 'p' THEN 'partial' END
    END AS match_type,
    -- for a foreign key conindid is the referenced side's index, not one of this table
    CASE WHEN con.contype IN ('p', 'u', 'x') THEN ic.relname END AS index,
    NULL::text AS domain
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
  LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
  LEFT JOIN pg_catalog.pg_class ic ON ic.oid = con.conindid
  LEFT JOIN ref ON ref.oid = con.oid
 WHERE (con.contype IN ('p', 'u', 'f', 'c', 'x') OR (con.contype = 'n' AND NOT con.convalidated))
   AND con.conparentid = 0
   AND c.relkind IN ('r', 'p', 'f', 'm')
   AND n.nspname = ANY (%(schemas)s::text[])
   -- pg_get_constraintdef of a CHECK locks the table: tables under ACCESS EXCLUSIVE are left out (locks.sql)
   AND c.oid <> ALL (%(locked)s::oid[])
   -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
   -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
   AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                      WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                        AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
UNION ALL
SELECT
    n.nspname, '', con.conname,
    CASE con.contype WHEN 'c' THEN 'check' WHEN 'n' THEN 'not_null' END,
    NULL::int2[], pg_catalog.pg_get_constraintdef(con.oid, true), con.convalidated, con.condeferrable,
    NULL, NULL, ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[], NULL, NULL, NULL, NULL,
    t.typname::text
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_type t ON t.oid = con.contypid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE con.contypid <> 0
   AND NOT con.convalidated
   AND n.nspname = ANY (%(schemas)s::text[])
   -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
   -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
   AND t.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                      WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                        AND e.classid = 'pg_catalog.pg_type'::regclass AND e.deptype = 'e')
 ORDER BY 1, 2, 3
