-- Every schema (database) the session can see; the connector filters system schemas and the include/exclude globs.
SELECT SCHEMA_NAME AS schema_name
FROM information_schema.SCHEMATA
ORDER BY SCHEMA_NAME
