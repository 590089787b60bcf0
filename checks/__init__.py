"""The check battery: one module per family. Importing this package registers every check."""

from checks import (
    capacity,
    growth,
    indexes,
    keys,
    normalization,
    replication,
    security,
    settings,
    table_maintenance,
    transactions,
    workload,
)

FAMILIES = (indexes, keys, normalization, workload, settings, security, table_maintenance, transactions, replication,
            capacity, growth)

__all__ = ["FAMILIES", "capacity", "growth", "indexes", "keys", "normalization", "replication", "security",
           "settings", "table_maintenance", "transactions", "workload"]
