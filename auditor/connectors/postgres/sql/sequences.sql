-- description: sequences (as pg_sequences shows them) with the columns each one feeds and those columns' types
-- A sequence feeds a column through OWNED BY (serial: deptype 'a'), an identity (deptype 'i'), or a column
-- DEFAULT nextval('seq'::regclass), which pg_depend records from the pg_attrdef row to the sequence.
-- Not last_value: pg_sequence_last_value() locks each sequence (ROW EXCLUSIVE) until the END OF THE TRANSACTION,
-- even under a savepoint: at 10,000 sequences the catalog's transaction would hold 10,000 locks (past the server's
-- shared lock table: "out of shared memory" for every session) and an ALTER SEQUENCE or a DROP TABLE of a serial
-- column would wait for its COMMIT. sequence_values.sql reads it after the COMMIT, in bounded batches.
SELECT
    n.nspname AS schema,
    c.relname AS name,
    pg_catalog.format_type(s.seqtypid, NULL) AS data_type,
    s.seqstart AS start_value,
    s.seqincrement AS increment,
    s.seqmin AS min_value,
    s.seqmax AS max_value,
    pg_catalog.has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
    s.seqcycle AS cycle,
    (SELECT json_agg(json_build_object('schema', fn.nspname, 'table', fc.relname, 'column', fa.attname,
                                       'data_type', pg_catalog.format_type(fa.atttypid, fa.atttypmod))
                     ORDER BY fn.nspname, fc.relname, fa.attnum)
       FROM (SELECT d.refobjid AS relid, d.refobjsubid AS attnum
               FROM pg_catalog.pg_depend d
              WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0
                AND d.deptype IN ('a', 'i')
             UNION
             SELECT ad.adrelid, ad.adnum
               FROM pg_catalog.pg_depend d
               JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
              WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass
                AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = c.oid
                AND d.deptype = 'n') AS f
       JOIN pg_catalog.pg_class fc ON fc.oid = f.relid
       JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
       JOIN pg_catalog.pg_attribute fa ON fa.attrelid = f.relid AND fa.attnum = f.attnum) AS feeds
  FROM pg_catalog.pg_sequence s
  JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY (%(schemas)s::text[])
   -- sequences under ACCESS EXCLUSIVE (being altered or dropped) are left out, as the tables are (locks.sql)
   AND c.oid <> ALL (%(locked)s::oid[])
   -- not an extension's member: the members are read from the extensions' side of pg_depend (by its index
   -- on the referenced object) and hashed once, not looked up per row (10,000 index probes)
   AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                      WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass
                        AND e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
 ORDER BY 1, 2
