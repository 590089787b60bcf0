-- description: the settings the checks read as new sessions get them (reset_val), with unit, built-in default and context
SELECT
    s.name,
    s.reset_val AS value,
    s.unit,
    s.boot_val AS boot_value,
    -- the source of the session's value: dbaudit's own SET LOCAL says nothing about the server's
    CASE WHEN s.source = 'session' THEN NULL ELSE s.source END AS source,
    s.context,
    s.pending_restart
  FROM pg_catalog.pg_settings s
 WHERE s.name = ANY (%(settings)s::text[])
    OR s.name ~ '^(autovacuum|enable_|vacuum_cost_|checkpoint_|track_)'
 ORDER BY 1
