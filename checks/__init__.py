"""The check battery: one module per family. Importing this package registers every check."""

from checks import growth, indexes, keys, normalization, security, settings, table_maintenance, workload

FAMILIES = (indexes, keys, normalization, workload, settings, security, table_maintenance, growth)

__all__ = ["FAMILIES", "growth", "indexes", "keys", "normalization", "security", "settings", "table_maintenance",
           "workload"]
