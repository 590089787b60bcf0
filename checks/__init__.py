"""The check battery: one module per family. Importing this package registers every check."""

from checks import indexes, keys

FAMILIES = (indexes, keys)

__all__ = ["FAMILIES", "indexes", "keys"]
