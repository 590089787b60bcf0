"""Parsing and displaying connection strings without ever leaking the password.

Accepted forms:

* ``postgresql://user:pass@host:5432/db?sslmode=require`` and ``postgres://…``
* libpq ``key=value`` strings: ``host=db dbname=shop user=app``
* ``mysql://`` / ``mariadb://`` URLs; what the URL leaves out comes, as for the ``mysql`` client, from the
  ``[client]`` group of ``~/.my.cnf``, then from ``MYSQL_HOST``, ``MYSQL_TCP_PORT``, ``MYSQL_UNIX_PORT`` and
  ``MYSQL_PWD`` (command line over option file over environment, MySQL reference manual 6.9, "Environment
  Variables")
* nothing at all: ``$DBAUDIT_DSN``, then libpq's own ``PG*`` variables (PGHOST, PGPORT, PGUSER, PGDATABASE, …)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from auditor.errors import DsnError

PG_SCHEMES = ("postgresql", "postgres")
MYSQL_SCHEMES = ("mysql", "mariadb")

_PG_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGPASSWORD", "PGPASSFILE")


@dataclass(frozen=True)
class Dsn:
    engine: str  # "postgresql" or "mysql"
    params: Mapping[str, str] = field(default_factory=dict)  # driver keywords; may hold the password
    source: str = "argument"  # where it came from: argument, DBAUDIT_DSN, environment

    @property
    def display(self) -> str:
        """URL form without the password, for reports and messages."""
        p = self.params
        if self.engine == "mysql":
            scheme = "mysql"
            user = p.get("user", "")
            host = p.get("unix_socket") and "localhost" or p.get("host", "localhost")
            port = p.get("port", "")
            db = p.get("database", "")
        else:
            scheme = "postgresql"
            user = p.get("user") or os.environ.get("PGUSER", "")
            host = p.get("host") or p.get("hostaddr") or os.environ.get("PGHOST", "")
            port = p.get("port") or os.environ.get("PGPORT", "")
            db = p.get("dbname") or os.environ.get("PGDATABASE", "")
        out = f"{scheme}://"
        if user:
            out += f"{user}@"
        out += _display_hosts(host, port)
        if db:
            out += f"/{db}"
        return out

    @property
    def database(self) -> str:
        if self.engine == "mysql":
            return self.params.get("database", "")
        return self.params.get("dbname") or os.environ.get("PGDATABASE", "") or self.params.get("user", "")


def _display_hosts(host: str, port: str) -> str:
    """``h1:5432,h2:5433`` from libpq's parallel lists (``host=h1,h2 port=5432,5433``; one port for all)."""
    hosts = host.split(",")
    ports = port.split(",") if port else [""]
    if len(ports) == 1:
        ports = ports * len(hosts)
    parts: list[str] = []
    for i, h in enumerate(hosts):
        if h.startswith("/") or ":" in h:
            h = f"[{h}]"  # a socket directory, or an IPv6 address whose colons would read as a port
        p = ports[i] if i < len(ports) else ""
        parts.append(f"{h}:{p}" if p else h)
    return ",".join(parts)


def parse_dsn(text: str | None, environ: Mapping[str, str] | None = None) -> Dsn:
    """Turn the user's DSN (or the environment) into a :class:`Dsn`; errors never echo the password."""
    env = os.environ if environ is None else environ
    source = "argument"
    if text is None or not text.strip():
        text = env.get("DBAUDIT_DSN", "")
        source = "DBAUDIT_DSN"
        if not text.strip():
            if not any(k in env for k in _PG_ENV):
                raise DsnError(
                    "no DSN given: pass one (e.g. postgresql://user@host/db), set DBAUDIT_DSN,"
                    " or set PGHOST/PGDATABASE"
                )
            return Dsn(engine="postgresql", params={}, source="PG* environment")
    text = text.strip()
    scheme_match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        text = encode_url_credentials(text)
        if scheme in PG_SCHEMES:
            return Dsn(engine="postgresql", params=_parse_pg(text, source), source=source)
        if scheme in MYSQL_SCHEMES:
            params = with_mysql_client_defaults(_parse_mysql_url(text, source), env)
            return Dsn(engine="mysql", params=params, source=source)
        raise DsnError(f"unsupported DSN scheme {scheme!r} ({source}): use postgresql://, postgres:// or mysql://")
    if "=" in text:
        return Dsn(engine="postgresql", params=_parse_pg(text, source), source=source)
    raise DsnError(
        f"malformed DSN ({source}): expected a URL like postgresql://user@host:5432/db or key=value pairs"
    )


def _split_url_credentials(text: str) -> tuple[str, str, str] | None:
    """(``scheme://``, user info, the rest) of a URL with credentials, else None.

    The user info ends at the *last* ``@``: a password may hold ``@``, ``/``, ``?``, ``#`` or ``:`` unencoded,
    and parsers that stop at the first of them (libpq stops at the first ``@`` or ``/``) would read part of the
    password as the host, the database or the port -- and quote it in their error message.
    """
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$", text, flags=re.DOTALL)
    if m is None or "@" not in m.group(2):
        return None
    info, _, rest = m.group(2).rpartition("@")
    return m.group(1), info, rest


def _encode_component(text: str) -> str:
    """A user name or password percent-encoded in full; valid ``%XX`` escapes keep their meaning, a ``%`` that
    starts none is a literal percent sign."""
    literal_percent = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", text)
    return quote(unquote(literal_percent), safe="")


def encode_url_credentials(text: str) -> str:
    """The URL with its user name and password percent-encoded, so that any parser reads them whole."""
    parts = _split_url_credentials(text)
    if parts is None:
        return text
    prefix, info, rest = parts
    user, colon, password = info.partition(":")
    encoded = _encode_component(user) + (":" + _encode_component(password) if colon else "")
    return f"{prefix}{encoded}@{rest}"


def _parse_pg(text: str, source: str) -> dict[str, str]:
    from psycopg import conninfo

    try:
        params = conninfo.conninfo_to_dict(text)
    except Exception as exc:  # psycopg raises ProgrammingError with libpq's text
        raise DsnError(f"malformed DSN ({source}): {_scrub_libpq_message(str(exc), text)}") from None
    out = {k: str(v) for k, v in params.items() if v is not None}
    port = out.get("port")
    # an empty entry in a multi-host list means the default port
    if port is not None and not all(p.isdigit() or p == "" for p in port.split(",")):
        raise DsnError(f"malformed DSN ({source}): port {port!r} is not a number")
    return out


def _scrub_libpq_message(msg: str, text: str = "") -> str:
    """libpq's first line, with any quoted token that could be (part of) a password replaced by "…".

    libpq quotes the token it stumbled on ('missing "=" after "dbname"'), which is what makes its message
    useful, so only tokens that stand where a password would are hidden: the words after a ``password``
    keyword up to the next ``key=``, and the password of a URL.
    """
    first = msg.splitlines()[0] if msg else ""
    secrets = _password_words(text)

    def hide(m: re.Match[str]) -> str:
        token = m.group(1)
        if token and any(token in word or word in token for word in secrets):
            return '"…"'
        return m.group(0)

    first = re.sub(r'"([^"]*)"', hide, first)
    return first.strip() or "could not parse the connection string"


def _password_words(text: str) -> set[str]:
    words: set[str] = set()
    for m in re.finditer(r"password", text, flags=re.IGNORECASE):
        rest = text[m.end():]
        following_key = re.search(r"\s[A-Za-z_]+\s*=", rest)
        span = rest[: following_key.start()] if following_key else rest
        words.update(w for w in re.split(r"[\s='\\]+", span) if w)
    parts = _split_url_credentials(text)
    if parts is not None and ":" in parts[1]:
        secret = parts[1].split(":", 1)[1]
        words.update(w for w in {secret, unquote(secret), _encode_component(secret)} if w)
    return words


MYSQL_QUERY_KEYS = (
    "socket", "unix_socket", "ssl", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify",
    "connect_timeout", "charset",
)
_SSL_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")
_BOOL_WORDS = {"1": "true", "true": "true", "yes": "true", "on": "true",
               "0": "false", "false": "false", "no": "false", "off": "false"}


def _parse_mysql_url(text: str, source: str) -> dict[str, str]:
    """``mysql://user:pass@host:3306/db?ssl_ca=/ca.pem`` -> PyMySQL-style keywords (still strings).

    The socket is given as ``?socket=/run/mysqld/mysqld.sock`` (or ``unix_socket``), or as a percent-encoded
    path in the host position: ``mysql://root@%2Frun%2Fmysqld%2Fmysqld.sock/shop``.
    """
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise DsnError(f"malformed DSN ({source}): the port is not a number") from None
    out: dict[str, str] = {}
    if parts.username:
        out["user"] = unquote(parts.username)
    if parts.password:
        out["password"] = unquote(parts.password)
    netloc_host = parts.netloc.rpartition("@")[2]
    raw_host = unquote(netloc_host.rsplit(":", 1)[0] if port else netloc_host)
    if raw_host.startswith("/"):
        out["unix_socket"] = raw_host
    elif parts.hostname:
        out["host"] = parts.hostname
    if port:
        out["port"] = str(port)
    db = unquote(parts.path.lstrip("/"))
    if "/" in db:
        raise DsnError(f"malformed DSN ({source}): the database name {db!r} contains '/'")
    if db:
        out["database"] = db
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        key = key.lower().replace("-", "_")
        if key not in MYSQL_QUERY_KEYS:
            raise DsnError(
                f"malformed DSN ({source}): unknown option {key!r} for mysql:// "
                f"(known: {', '.join(MYSQL_QUERY_KEYS)})"
            )
        if key in ("socket", "unix_socket"):
            out["unix_socket"] = value
        elif key in ("ssl", "ssl_verify"):
            word = _BOOL_WORDS.get(value.lower())
            if word is None:
                raise DsnError(f"malformed DSN ({source}): {key} must be true or false, not {value!r}")
            out[key] = word
        elif key == "ssl_mode":
            if value.lower() not in _SSL_MODES:
                raise DsnError(f"malformed DSN ({source}): ssl_mode must be one of {', '.join(_SSL_MODES)}")
            out[key] = value.lower()
        elif key == "connect_timeout":
            if not value.isdigit() or int(value) <= 0:
                raise DsnError(
                    f"malformed DSN ({source}): connect_timeout must be a positive number of seconds"
                )
            out[key] = value
        else:
            out[key] = value
    return out


# option-file keys of the [client] group that a connection takes, with the Dsn keyword each becomes
_CNF_KEYS = {"user": "user", "password": "password", "host": "host", "port": "port", "socket": "unix_socket",
             "database": "database", "ssl_ca": "ssl_ca", "ssl_cert": "ssl_cert", "ssl_key": "ssl_key",
             "ssl_mode": "ssl_mode", "default_character_set": "charset"}


def read_my_cnf(path: str) -> dict[str, str]:
    """The ``[client]`` group of a MySQL option file as Dsn keywords; {} when it is absent or unreadable.

    Read the way the client library reads it: ``-`` and ``_`` are the same in option names, values may be
    quoted, ``#`` and ``;`` start comments, ``!include`` lines are ignored (dbaudit reads one file), and a
    world-writable file is ignored as the mysql client ignores it (anyone could have put a host there).
    """
    try:
        if os.stat(path).st_mode & 0o002:
            return {}
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    out: dict[str, str] = {}
    group = ""
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#;!":
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip().lower()
            continue
        if group != "client":
            continue
        name, eq, value = line.partition("=")
        key = _CNF_KEYS.get(name.strip().lower().replace("-", "_"))
        if key is None or not eq:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        if key == "ssl_mode":
            value = value.lower()
        out[key] = value
    return out


def with_mysql_client_defaults(params: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """A mysql:// URL's keywords completed as the ``mysql`` client completes its command line: first from the
    ``[client]`` group of ``~/.my.cnf``, then from ``MYSQL_HOST``, ``MYSQL_TCP_PORT``, ``MYSQL_UNIX_PORT`` and
    ``MYSQL_PWD``. A URL that names a host or a socket takes neither from elsewhere."""
    home = env.get("HOME") or ""
    cnf = read_my_cnf(os.path.join(home, ".my.cnf")) if home else {}
    environment = {key: env[var] for var, key in (("MYSQL_HOST", "host"), ("MYSQL_TCP_PORT", "port"),
                                                    ("MYSQL_UNIX_PORT", "unix_socket"), ("MYSQL_PWD", "password"))
                   if env.get(var)}
    out = dict(params)
    located = "host" in params or "unix_socket" in params
    for source in (cnf, environment):
        for key, value in source.items():
            if key in out or (located and key in ("host", "unix_socket")):
                continue
            if key == "host" and "unix_socket" in out or key == "unix_socket" and "host" in out:
                continue  # the first source to give a location wins
            out[key] = value
    port = out.get("port")
    if port is not None and not port.isdigit():
        raise DsnError(f"malformed DSN: port {port!r} (from ~/.my.cnf or MYSQL_TCP_PORT) is not a number")
    return out


def redact(text: str, dsn: Dsn | None = None) -> str:
    """Remove any password (from the DSN or URL-embedded) from a message."""
    text = re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    if dsn is not None:
        pw = dsn.params.get("password")
        if pw:
            text = _mask_password(text, pw, dsn.params)
    return text


def _mask_password(text: str, pw: str, params: Mapping[str, str]) -> str:
    """``text`` with every occurrence of the password masked, except inside the DSN's user, database or host
    names that contain it (user ``app_audit`` with password ``audit``: the server's "access denied for user
    'app_audit'" keeps the name). A name equal to the password is masked like the password."""
    names = {v for k in ("user", "dbname", "database", "host") if (v := params.get(k)) and pw in v and v != pw}
    kept: list[tuple[int, int]] = []
    for name in sorted(names, key=len, reverse=True):
        kept.extend((m.start(), m.end()) for m in re.finditer(re.escape(name), text))
    out: list[str] = []
    last = 0
    for m in re.finditer(re.escape(pw), text):
        if any(start <= m.start() and m.end() <= end for start, end in kept):
            continue
        out.append(text[last:m.start()] + "***")
        last = m.end()
    return "".join(out) + text[last:]
