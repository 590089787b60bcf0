#!/bin/sh
# IX04 invalid-index, as demo/run_demo.py plants it: a concurrent unique build over duplicate display names fails
# and leaves users_display_name_key behind, INVALID. The failure is the point, so it must not stop the init.
psql -v ON_ERROR_STOP=0 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "CREATE UNIQUE INDEX CONCURRENTLY users_display_name_key ON users (display_name)" || true
