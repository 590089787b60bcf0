"""The check battery: one module per family. Importing this package registers every check."""

from checks import indexes, keys, normalization, security, settings, transactions, workload

FAMILIES = (indexes, keys, normalization, workload, settings, security, transactions)

__all__ = ["FAMILIES", "indexes", "keys", "normalization", "security", "settings", "transactions", "workload"]
