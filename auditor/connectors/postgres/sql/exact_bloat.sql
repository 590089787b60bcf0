-- description: exact free space of the bloat candidates with pgstattuple: pgstattuple_approx for heaps, pgstatindex for B-trees
-- reads the candidates' pages (a bounded list chosen from the estimates); {pgstattuple} is the extension's schema
SELECT 'table' AS kind, c.oid, a.approx_free_percent AS free_pct, a.dead_tuple_percent AS dead_pct,
       NULL::float8 AS leaf_density
  FROM pg_catalog.pg_class c
 CROSS JOIN LATERAL {pgstattuple}.pgstattuple_approx(c.oid::regclass) a
 WHERE c.oid = ANY (%(tables)s::oid[]) AND c.relkind IN ('r', 'm') AND c.oid <> ALL (%(locked)s::oid[])
UNION ALL
SELECT 'index', c.oid, NULL, NULL, s.avg_leaf_density
  FROM pg_catalog.pg_class c
 CROSS JOIN LATERAL {pgstattuple}.pgstatindex(c.oid::regclass) s
 WHERE c.oid = ANY (%(indexes)s::oid[]) AND c.relkind = 'i'
