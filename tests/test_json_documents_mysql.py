"""rt16: a JSON document is no determinant (nor dependent) of NF03/NF04 on MariaDB, where JSON is an alias of
LONGTEXT with a ``json_valid`` CHECK; NF02 names it as a JSON column, as it does PostgreSQL's jsonb."""

from __future__ import annotations

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks, select_checks
from tests.mysql_support import NewMySqlDb, mysql_new_db, mysql_server  # noqa: F401  (pytest fixtures)

# 2,000 tenants: 100 settings documents, each shared by 20 tenants that also share their address_line2 (the
# rt16 coincidence); zip -> city is a real dependency beside it, and must stay reported.
TENANTS = """
CREATE TABLE tenants (
  id bigint AUTO_INCREMENT PRIMARY KEY,
  settings JSON NOT NULL,
  profile longtext CHECK (json_valid(profile)),
  address_line2 varchar(100),
  zip int NOT NULL,
  city varchar(40) NOT NULL
) ENGINE=InnoDB;
INSERT INTO tenants (settings, profile, address_line2, zip, city)
SELECT JSON_OBJECT('theme', CONCAT('t', seq % 100), 'features', JSON_ARRAY('sso', 'api')),
       JSON_OBJECT('plan', seq % 100), CONCAT('Suite ', seq % 100), seq % 23, CONCAT('city ', seq % 23)
FROM seq_1_to_2000;
"""


def test_mariadb_json_columns_are_neither_determinant_nor_dependent(mysql_new_db: NewMySqlDb) -> None:  # noqa: F811
    snap = collect(parse_dsn(mysql_new_db(TENANTS)), CollectOptions(workload=False))
    settings = next(c for t in snap.tables if t.name == "tenants" for c in t.columns if c.name == "settings")
    assert settings.data_type == "longtext"  # MariaDB's JSON, as information_schema shows it
    sample = snap.sampling.tables[0] if snap.sampling else None
    assert sample is not None and sample.rows > 0
    assert {"settings", "profile"} <= set(sample.unsampled_columns)  # not read, as PostgreSQL skips jsonb
    result = run_checks(snap, select_checks(all_checks(), ["NF02", "NF03", "NF04"]))
    nf04 = [(f.details["determinant"], f.details["dependent"]) for f in result.findings if f.code == "NF04"]
    assert nf04 == [(["zip"], ["city"])]
    assert not [f for f in result.findings if f.code == "NF03"]
    nf02 = sorted((f.object.columns, f.severity.value, f.message) for f in result.findings if f.code == "NF02")
    assert [(cols, sev) for cols, sev, _ in nf02] == [(("profile",), "info"), (("settings",), "info")]
    assert all("is a JSON (longtext with a json_valid CHECK) column" in m for _, _, m in nf02)
