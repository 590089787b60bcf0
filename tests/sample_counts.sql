-- Independent catalog counts of missing FK indexes (IX05), tables without a primary key (KY01), duplicate (IX02)
-- and redundant (IX03) indexes, written from the catalogs alone to cross-check dbaudit on real schemas.
-- (Slices of an array renumber from 1: keycols[1:n] are the first n key columns.)
-- Usage: psql -X -A -F ' ' -t -d DB -f tests/sample_counts.sql   -> one line: ix05 ky01 ix02 ix03
WITH user_ns AS (
    SELECT oid FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\_toast%'
      AND nspname NOT LIKE 'pg\_temp%'
),
idx AS (
    SELECT i.*, ic.relam, am.amname, ic.relispartition AS attached,
           (i.indkey::int2[])[0:i.indnkeyatts - 1] AS keycols,
           (i.indkey::int2[])[i.indnkeyatts:] AS inclcols,
           pg_get_expr(i.indpred, i.indrelid) AS pred,
           pg_get_expr(i.indexprs, i.indrelid) AS exprs,
           EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                   AND k.contype IN ('p', 'u', 'x')) AS backs
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    JOIN pg_class t ON t.oid = i.indrelid
    WHERE t.relnamespace IN (SELECT oid FROM user_ns)
),
-- IX05: foreign keys (not the clones a partitioned table's key leaves on its partitions) that no valid,
-- non-BRIN index leads with, as a set of columns; on a partitioned table, unless every leaf partition has
-- such an index of its own (the key's columns found by name there). A partial index counts when its predicate,
-- as pg_get_expr prints it, is "col IS NOT NULL" tests of the key's columns joined by AND: the lookup's
-- "col = $1" implies them (issue 13; before, only full indexes counted)
fk_on AS (
    SELECT c.oid AS conoid, r.relid,
           (SELECT array_agg(a2.attnum ORDER BY a2.attnum)
              FROM unnest(c.conkey) k
              JOIN pg_attribute a1 ON a1.attrelid = c.conrelid AND a1.attnum = k
              JOIN pg_attribute a2 ON a2.attrelid = r.relid AND a2.attname = a1.attname) AS cols,
           r.relid = c.conrelid AS on_itself
    FROM pg_constraint c
    CROSS JOIN LATERAL (SELECT c.conrelid AS relid
                        UNION
                        SELECT l.relid FROM pg_partition_tree(c.conrelid) l WHERE l.isleaf) r
    WHERE c.contype = 'f' AND c.conparentid = 0 AND c.connamespace IN (SELECT oid FROM user_ns)
),
fk_covered AS (
    SELECT f.conoid, f.relid, f.on_itself,
           EXISTS (
               SELECT 1 FROM idx
               WHERE idx.indrelid = f.relid AND idx.indisvalid AND idx.amname <> 'brin'
                 AND (idx.pred IS NULL OR NOT EXISTS (
                        SELECT 1 FROM regexp_split_to_table(idx.pred, ' AND ') AS part
                        WHERE coalesce(substring(btrim(part, '() ') FROM '^"?(.*?)"? IS NOT NULL$'), '')
                              NOT IN (SELECT a.attname FROM pg_attribute a
                                      WHERE a.attrelid = f.relid AND a.attnum = ANY (f.cols))))
                 AND idx.indnkeyatts >= cardinality(f.cols)
                 AND (SELECT array_agg(k ORDER BY k) FROM unnest(idx.keycols[1:cardinality(f.cols)]) k) = f.cols
           ) AS covered
    FROM fk_on f
),
ix05 AS (
    SELECT count(*) AS n FROM (
        SELECT conoid FROM fk_covered
        GROUP BY conoid
        HAVING NOT bool_or(covered AND on_itself)
           AND NOT (count(*) FILTER (WHERE NOT on_itself) > 0 AND bool_and(covered OR on_itself))) missing
),
ky01 AS (
    SELECT count(*) AS n FROM pg_class t
    WHERE t.relkind IN ('r', 'p') AND NOT t.relispartition AND t.relnamespace IN (SELECT oid FROM user_ns)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = t.oid AND k.contype = 'p')
),
-- IX02: every member of a group of identical valid indexes beyond the first
ix02 AS (
    SELECT coalesce(sum(cnt - 1), 0) AS n FROM (
        SELECT count(*) AS cnt FROM idx WHERE indisvalid AND NOT attached
        GROUP BY indrelid, indkey::text, indnkeyatts, indclass::text, indcollation::text, indoption::text,
                 exprs, pred, relam
        HAVING count(*) > 1) g
),
-- IX03: non-unique btree indexes whose keys lead another valid btree index with the same predicate
ix03 AS (
    SELECT count(*) AS n FROM idx a
    WHERE a.amname = 'btree' AND NOT a.indisunique AND NOT a.backs AND a.indisvalid AND NOT a.attached
      AND EXISTS (
          SELECT 1 FROM idx b
          WHERE b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid AND b.indisvalid AND b.amname = 'btree'
            AND b.pred IS NOT DISTINCT FROM a.pred AND b.indnkeyatts > a.indnkeyatts
            AND a.inclcols <@ (b.indkey::int2[])
            AND NOT EXISTS (
                SELECT 1 FROM generate_series(1, a.indnkeyatts) p
                WHERE pg_get_indexdef(a.indexrelid, p, true) <> pg_get_indexdef(b.indexrelid, p, true)
                   OR a.indclass[p - 1] <> b.indclass[p - 1] OR a.indcollation[p - 1] <> b.indcollation[p - 1]
                   OR a.indoption[p - 1] <> b.indoption[p - 1]))
)
SELECT ix05.n, ky01.n, ix02.n, ix03.n FROM ix05, ky01, ix02, ix03;
