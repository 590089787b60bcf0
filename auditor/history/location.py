"""What may name a run store: a file path or a ``postgresql://`` URL, checked before anything is created."""

from __future__ import annotations

import re

from auditor.history.store import StoreError

_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://")
# libpq's connection keywords: a "host=db dbname=runs" string is a connection, not a file name
_LIBPQ_KEYS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "connect_timeout", "client_encoding",
    "options", "application_name", "fallback_application_name", "keepalives", "sslmode", "sslrootcert",
    "sslcert", "sslkey", "sslpassword", "service", "target_session_attrs", "gssencmode", "channel_binding",
    "require_auth", "load_balance_hosts", "krbsrvname", "requiressl", "sslcompression", "sslcrl"})
_LIBPQ_PAIR = re.compile(r"^\s*([A-Za-z_]+)\s*=")


def check_location(location: str) -> None:
    """Refuse what cannot name a run store, before anything is created: an empty string, a URL of another
    scheme than ``postgresql://`` / ``postgres://`` (``mysql://``, ``http://``, ``sqlite://``), and a libpq
    ``key=value`` connection string (a file of that name would be created otherwise)."""
    if not location.strip():
        raise StoreError("the run store is empty: give a file path or a postgresql:// URL")
    found = _SCHEME.match(location)
    if found and found.group(1).lower() not in ("postgresql", "postgres"):
        raise StoreError(f"run store {found.group(1)}://...: only a file path or a postgresql:// URL can be a run "
                         "store")
    pair = _LIBPQ_PAIR.match(location)
    if pair and pair.group(1).lower() in _LIBPQ_KEYS:
        raise StoreError("the run store is a libpq key=value string: only a file path or a postgresql:// URL can "
                         "be a run store (postgresql://user@host:5432/dbname)")
