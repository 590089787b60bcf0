"""rt16 item 6: MariaDB's KY02 prints a fix, and the fix runs: the foreign key dropped, the column changed with
MODIFY COLUMN keeping NULL / NOT NULL, default, collation and comment, the key added back with its actions."""

from __future__ import annotations

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks, select_checks
from auditor.model import Finding, Snapshot
from tests.mysql_support import MySqlServer, mysql_server, new_db_on, run_script  # noqa: F401  (pytest fixtures)

SCHEMA = """
CREATE TABLE countries (code char(2) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY);
INSERT INTO countries VALUES ('US'), ('DE');
CREATE TABLE plans (code varchar(10) PRIMARY KEY) DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci;
INSERT INTO plans VALUES ('free'), ('team');
-- rt16: a country code wider than the key it references, NOT NULL with a default, its own collation and a
-- comment with a quote; a nullable plan code with ON DELETE SET NULL
CREATE TABLE tenants (
  id int PRIMARY KEY,
  country_code varchar(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'US' COMMENT 'ISO 3166 ''alpha-2''',
  plan_code varchar(20) NULL COMMENT 'billing plan',
  FOREIGN KEY (country_code) REFERENCES countries (code),
  CONSTRAINT tenants_plan FOREIGN KEY (plan_code) REFERENCES plans (code) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci;
INSERT INTO tenants VALUES (1, 'DE', 'team'), (2, 'US', NULL);
"""


def _ky02(dsn: str) -> tuple[Snapshot, list[Finding]]:
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    return snap, list(run_checks(snap, select_checks(all_checks(), ["KY02"])).findings)


def test_mariadb_ky02_fix_runs_and_keeps_the_column(mysql_server: MySqlServer) -> None:  # noqa: F811
    database, dsn = new_db_on(mysql_server, SCHEMA)
    before, found = _ky02(dsn)
    if before.flavor != "mariadb":  # MySQL 8 prints defaults as bare values: no fix there (documented)
        assert all(f.remediation is None for f in found)
        return
    fixes = {f.object.constraint: f.remediation or "" for f in found}
    assert set(fixes) == {"tenants_ibfk_1", "tenants_plan"}
    assert ("MODIFY COLUMN `country_code` char(2) COLLATE ascii_bin NOT NULL DEFAULT 'US' "
            "COMMENT 'ISO 3166 ''alpha-2'''") in fixes["tenants_ibfk_1"]
    assert "MODIFY COLUMN `plan_code` varchar(10) COLLATE utf8mb4_unicode_ci NULL COMMENT 'billing plan'" \
        in fixes["tenants_plan"]
    with mysql_server.connect(database) as conn:
        for fix in fixes.values():
            run_script(conn, fix)
    after, left = _ky02(dsn)
    assert left == []
    tenants = after.table(database, "tenants")
    assert tenants is not None
    code, plan = tenants.column("country_code"), tenants.column("plan_code")
    assert code is not None and plan is not None
    assert (code.data_type, code.nullable, code.default, code.collation, code.comment) == \
        ("char(2)", False, "'US'", "ascii_bin", "ISO 3166 'alpha-2'")
    assert (plan.data_type, plan.nullable, plan.default, plan.comment) == ("varchar(10)", True, None, "billing plan")
    keys = {c.name: c for c in after.constraints if c.type == "foreign_key" and c.table == "tenants"}
    assert set(keys) == {"tenants_ibfk_1", "tenants_plan"} and keys["tenants_plan"].on_delete == "set null"
