"""DSN parsing and display: every accepted form, the environment fallbacks, and no password anywhere."""

from __future__ import annotations

import pytest

from auditor.dsn import Dsn, parse_dsn, redact
from auditor.errors import DsnError

SECRET = "s3cr3t-Pw"


@pytest.fixture(autouse=True)
def _clean_pg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dsn.display falls back on PG* variables like libpq does: the machine's own must not leak into the cases
    for name in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSERVICE",
                 "DBAUDIT_DSN", "MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT", "MYSQL_PWD"):
        monkeypatch.delenv(name, raising=False)
    # nor may the developer's ~/.my.cnf complete the mysql:// cases
    monkeypatch.setenv("HOME", "/nonexistent")


@pytest.mark.parametrize(("text", "params", "display"), [
    ("postgresql://app:" + SECRET + "@db.example:6543/shop?sslmode=require",
     {"user": "app", "password": SECRET, "host": "db.example", "port": "6543", "dbname": "shop",
      "sslmode": "require"},
     "postgresql://app@db.example:6543/shop"),
    ("postgres://app@db/shop", {"user": "app", "host": "db", "dbname": "shop"}, "postgresql://app@db/shop"),
    ("postgresql://app:p%40ss%2Fword@[::1]:5432/shop", {"user": "app", "password": "p@ss/word", "host": "::1",
                                                          "port": "5432", "dbname": "shop"},
     "postgresql://app@[::1]:5432/shop"),
    ("postgresql:///shop?host=/var/run/postgresql", {"host": "/var/run/postgresql", "dbname": "shop"},
     "postgresql://[/var/run/postgresql]/shop"),
    ("postgresql://a,b:5433/shop", {"host": "a,b", "port": ",5433", "dbname": "shop"}, "postgresql://a,b:5433/shop"),
    ("host=a,b port=5432,5433", {"host": "a,b", "port": "5432,5433"}, "postgresql://a:5432,b:5433"),
    ("host=db dbname=shop user=app password=" + SECRET + " port=5433",
     {"host": "db", "dbname": "shop", "user": "app", "password": SECRET, "port": "5433"},
     "postgresql://app@db:5433/shop"),
    ("  host='my db' dbname = 'the shop'  ", {"host": "my db", "dbname": "the shop"},
     "postgresql://my db/the shop"),
])
def test_accepted_forms(text: str, params: dict[str, str], display: str) -> None:
    dsn = parse_dsn(text, environ={})
    assert dsn.engine == "postgresql" and dsn.source == "argument"
    assert dict(dsn.params) == params
    assert dsn.display == display
    assert SECRET not in dsn.display and "word" not in dsn.display


def test_database_name() -> None:
    assert parse_dsn("postgresql://u@h/shop", environ={}).database == "shop"
    assert parse_dsn("user=app host=h", environ={}).database == "app"  # libpq's default: the user's name


def test_no_argument_reads_dbaudit_dsn_first() -> None:
    env = {"DBAUDIT_DSN": f"postgresql://app:{SECRET}@envhost/envdb", "PGHOST": "ignored"}
    dsn = parse_dsn(None, environ=env)
    assert (dsn.source, dsn.params["host"], dsn.params["dbname"]) == ("DBAUDIT_DSN", "envhost", "envdb")
    assert parse_dsn("   ", environ=env).source == "DBAUDIT_DSN"


def test_no_argument_falls_back_on_pg_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"PGHOST": "pghost", "PGPORT": "6000", "PGUSER": "pguser", "PGDATABASE": "pgdb",
           "PGPASSWORD": SECRET}
    dsn = parse_dsn(None, environ=env)
    assert (dsn.source, dict(dsn.params)) == ("PG* environment", {})  # libpq reads the variables itself
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert dsn.display == "postgresql://pguser@pghost:6000/pgdb"
    assert dsn.database == "pgdb"


def test_nothing_at_all_is_an_error() -> None:
    with pytest.raises(DsnError, match="no DSN given"):
        parse_dsn(None, environ={})
    with pytest.raises(DsnError, match="no DSN given"):
        parse_dsn("", environ={"DBAUDIT_DSN": "  "})


@pytest.mark.parametrize(("text", "expected"), [
    ("just some words", "malformed DSN"),
    (f"postgresql://app:{SECRET}@db:notaport/shop", "port 'notaport' is not a number"),
    (f"host=db port=54x password={SECRET}", "port '54x' is not a number"),
    (f"host=db password='{SECRET}", "unterminated quoted string"),
    (f"host=db password {SECRET}", "malformed DSN"),  # libpq would quote the token: it may be the password
    (f"postgresql://app:{SECRET}@db/shop?bogus=1", "invalid URI query parameter"),
    ("oracle://scott@db/orcl", "unsupported DSN scheme 'oracle'"),
])
def test_malformed_strings_give_one_line_without_the_password(text: str, expected: str) -> None:
    with pytest.raises(DsnError) as info:
        parse_dsn(text, environ={})
    message = str(info.value)
    assert expected in message
    assert SECRET not in message and "\n" not in message


@pytest.mark.parametrize(("text", "expected"), [
    # the quoted token is what makes libpq's message useful: kept where it cannot be a password
    ("host=db dbname shop", 'missing "=" after "dbname"'),
    ("host=db user=app bogus=1", 'invalid connection option "bogus"'),
    ("postgresql://app@db/shop?bogus=1", 'invalid URI query parameter: "bogus"'),
])
def test_malformed_strings_keep_libpq_tokens_that_are_no_password(text: str, expected: str) -> None:
    with pytest.raises(DsnError) as info:
        parse_dsn(text, environ={})
    assert expected in str(info.value)


@pytest.mark.parametrize("text", [
    f"host=db password=my {SECRET} dbname=x",  # a password with a space, unquoted: libpq quotes its 2nd word
    f"host=db password={SECRET} shop",
    f"postgresql://app:{SECRET}@db/shop?{SECRET}=1",
])
def test_malformed_strings_hide_tokens_standing_where_a_password_would(text: str) -> None:
    with pytest.raises(DsnError) as info:
        parse_dsn(text, environ={})
    message = str(info.value)
    assert SECRET not in message and '"…"' in message


def test_malformed_dbaudit_dsn_says_where_it_came_from() -> None:
    with pytest.raises(DsnError, match=r"\(DBAUDIT_DSN\)"):
        parse_dsn(None, environ={"DBAUDIT_DSN": "not a dsn"})


def test_redact() -> None:
    dsn = Dsn(engine="postgresql", params={"password": SECRET})
    assert redact(f"failed for postgresql://u:{SECRET}@h/db", dsn) == "failed for postgresql://u:***@h/db"
    assert redact(f"host=h password={SECRET} user=u") == "host=h password=*** user=u"
    assert redact(f"the server said {SECRET}", dsn) == "the server said ***"


def test_redact_keeps_names_that_contain_the_password() -> None:
    """User app_audit with password audit: the server's message names the user, which must stay readable;
    the password itself is masked everywhere else, and a name equal to the password is masked like it."""
    dsn = parse_dsn("mysql://app_audit:audit@127.0.0.1:3306/audit_db")
    said = "access denied for user 'app_audit' on audit_db; the password audit was refused"
    assert redact(said, dsn) == "access denied for user 'app_audit' on audit_db; the password *** was refused"
    assert redact("mysql://app_audit:audit@h/x failed", dsn) == "mysql://app_audit:***@h/x failed"
    same = parse_dsn("postgresql://hunter:hunter@db/shop")
    assert redact("role 'hunter' refused hunter", same) == "role '***' refused ***"
