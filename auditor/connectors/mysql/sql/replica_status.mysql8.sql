-- The replication channels this server replicates from (MySQL 8.0.22+ spelling), empty on a primary.
SHOW REPLICA STATUS
