-- The replication channels this server replicates from, every connection (MariaDB), empty on a primary.
SHOW ALL SLAVES STATUS
