-- The replication channels this server replicates from (MySQL before 8.0.22), empty on a primary.
SHOW SLAVE STATUS
