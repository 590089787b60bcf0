-- Runs once, in the blog database, before demo/seed.sql (which creates pg_stat_statements itself).
-- hypopg lets dbaudit check its index proposals with hypothetical indexes that live in its session only.
CREATE EXTENSION IF NOT EXISTS hypopg;
