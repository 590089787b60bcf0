"""Normalization findings on public sample databases (Chinook on both engines, MusicBrainz's schema), loaded
into the suite's own servers: every finding one would defend to a DBA, none of the known false positives.

Chinook's invoices repeat their customer's address (billing_*): a copy through the foreign key, reported with
the parent's columns named. Its known look-alikes stay silent: track.unit_price is "determined" by genre_id and
by album_id only because videos cost 1.99 (genre has no price column), and composer -> media_type_id holds
but for 12 rows. MusicBrainz's ~100 link tables l_a_b(entity0, entity1) are not repeating groups.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks, select_checks
from auditor.model import Finding
from tests.conftest import NewDb, PgServer
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    mysql_server,
    new_db_on,
)
from tests.test_sample_schemas import SAMPLES, _load, _psql

NF = ["NF01", "NF02", "NF03", "NF04"]
MYSQL_SAMPLES = SAMPLES.parent / "mysql"


def _findings(dsn: str, sample: bool = True) -> list[Finding]:
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False, sample=sample))
    result = run_checks(snap, select_checks(all_checks(), NF))
    return list(result.findings)


def _chinook_script(path: Path) -> str:
    """The Chinook script without its DROP/CREATE DATABASE and connect lines: it loads into the test's own DB."""
    text = path.read_text(encoding="utf-8-sig")
    return re.sub(r"(?im)^\s*(DROP DATABASE|CREATE DATABASE|\\c |USE ).*$", "", text)


def _assert_chinook(findings: list[Finding], invoice: str, billing: list[str], customer: list[str]) -> None:
    assert [(f.code, f.object.table) for f in findings] == [("NF04", invoice)], [f.message for f in findings]
    f = findings[0]
    assert f.details["determinant"] == [billing[0]]
    assert sorted(f.details["dependent"]) == sorted(billing[1:])
    copies = f.details["copies"]
    assert isinstance(copies, dict)
    assert sorted(str(v).rsplit(".", 1)[1] for v in copies.values()) == sorted(customer)
    assert "duplicates" not in f.message and "evidence: 59 distinct determinant values" in f.message
    assert "deliberate snapshot" in (f.remediation or "")


def test_chinook_pg_copies_the_customer_address_and_nothing_else(pg_server: PgServer, pg_new_db: NewDb) -> None:
    path = SAMPLES / "chinook" / "Chinook_PostgreSql.sql"
    if not path.exists():
        pytest.skip(f"the public samples are not at {SAMPLES} (set DBAUDIT_SAMPLES)")
    dsn = pg_new_db()
    done = subprocess.run([_psql(pg_server), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn],
                          input=_chinook_script(path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    findings = _findings(dsn)
    _assert_chinook(findings, "invoice",
                    ["customer_id", "billing_address", "billing_city", "billing_country", "billing_postal_code",
                     "billing_state"], ["address", "city", "country", "postal_code", "state"])
    assert not any("genre" in f.message or "composer" in f.message for f in findings)


def test_chinook_mariadb_copies_the_customer_address_and_nothing_else(
        mysql_server: MySqlServer,  # noqa: F811  (the fixture)
) -> None:
    path = MYSQL_SAMPLES / "chinook" / "Chinook_MySql.sql"
    if not path.exists():
        pytest.skip(f"the public samples are not at {MYSQL_SAMPLES} (set DBAUDIT_SAMPLES)")
    _, dsn = new_db_on(mysql_server, _chinook_script(path))
    findings = _findings(dsn)
    _assert_chinook(findings, "Invoice",
                    ["CustomerId", "BillingAddress", "BillingCity", "BillingCountry", "BillingPostalCode",
                     "BillingState"], ["Address", "City", "Country", "PostalCode", "State"])


def test_musicbrainz_link_tables_are_not_repeating_groups(pg_server: PgServer, pg_new_db: NewDb) -> None:
    dsn = _load("musicbrainz", pg_server, pg_new_db)
    nf01 = [f for f in _findings(dsn, sample=False) if f.code == "NF01"]
    # seconder_1, seconder_2 -> editor, in no key: a real repeating group; the 100-odd l_a_b tables are not
    assert [(f.object.table, f.object.columns) for f in nf01] == [
        ("autoeditor_election", ("seconder_1", "seconder_2"))]
