"""The check battery: one module per family. Importing this package registers every check."""

from checks import indexes, keys, normalization, workload

FAMILIES = (indexes, keys, normalization, workload)

__all__ = ["FAMILIES", "indexes", "keys", "normalization", "workload"]
