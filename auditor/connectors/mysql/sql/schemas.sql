-- Every schema (database) the session can see; the connector filters system schemas and the include/exclude globs.
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       SCHEMA_NAME AS schema_name
FROM information_schema.SCHEMATA
ORDER BY SCHEMA_NAME
