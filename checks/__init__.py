"""The check battery: one module per family. Importing this package registers every check."""

from checks import growth, indexes, keys, normalization, security, settings, workload

FAMILIES = (indexes, keys, normalization, workload, settings, security, growth)

__all__ = ["FAMILIES", "growth", "indexes", "keys", "normalization", "security", "settings", "workload"]
