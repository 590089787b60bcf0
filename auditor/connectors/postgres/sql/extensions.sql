-- description: installed extensions with their versions, and the names of the extensions the server could install
SELECT
    (SELECT json_object_agg(e.extname, e.extversion ORDER BY e.extname)
       FROM pg_catalog.pg_extension e) AS installed,
    ARRAY(SELECT a.name::text FROM pg_catalog.pg_available_extensions a ORDER BY 1) AS available
