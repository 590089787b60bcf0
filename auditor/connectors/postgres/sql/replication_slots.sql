-- description: replication slots with the WAL and the transaction horizon they retain, wal_status and inactive_since
-- {wal_status}, {safe_wal_size} (PostgreSQL 13+) and {inactive_since} (17+) are NULL on older servers (area_names)
SELECT
    s.slot_name::text AS name,
    s.slot_type AS slot_type,
    s.plugin::text AS plugin,
    s.database::text AS database,
    s.active,
    s.active_pid,
    s.temporary,
    pg_catalog.age(s.xmin) AS xmin_age,
    pg_catalog.age(s.catalog_xmin) AS catalog_xmin_age,
    s.restart_lsn::text AS restart_lsn,
    -- WAL kept for the slot: from its restart_lsn to where this server's WAL is (received, on a standby)
    pg_catalog.pg_wal_lsn_diff(
        CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()
             ELSE pg_catalog.pg_current_wal_lsn() END,
        s.restart_lsn)::bigint AS retained_bytes,
    {wal_status} AS wal_status,
    {safe_wal_size} AS safe_wal_size,
    {inactive_since} AS inactive_since
  FROM pg_catalog.pg_replication_slots s
 ORDER BY s.slot_name
