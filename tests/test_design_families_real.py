"""The design document of a schema-per-tenant database, on real servers (rt17).

- MariaDB scanned without a database in the URL: the title names the schemas audited, never
  "(unknown database)", and the summary no "?" for the database.
- Most tables are copies in numbered schemas: the ER diagram draws one representative schema's tables with their
  relationships plus the shared ones, and says so; two numbered schemas alike are no family.
"""

from __future__ import annotations

import uuid

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions, collect
from auditor.design import er_model, schema_families
from auditor.dsn import parse_dsn
from reports.htmlfmt import render_html
from reports.markdown import render_markdown
from tests.conftest import NewDb
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401  (pytest fixture)

TENANTS = 12


def test_mariadb_without_a_database_names_what_was_audited(mysql_server: MySqlServer) -> None:  # noqa: F811
    uid = "f" + uuid.uuid4().hex[:6]
    new_db_on(mysql_server, "CREATE TABLE tenants (id int PRIMARY KEY, name varchar(50) NOT NULL);",
              f"{uid}_shared")
    for i in range(1, TENANTS + 1):
        new_db_on(mysql_server, f"""
            CREATE TABLE customers (id int PRIMARY KEY, tenant_id int NOT NULL, name varchar(50) NOT NULL,
                                    FOREIGN KEY (tenant_id) REFERENCES `{uid}_shared`.tenants (id));
            CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL,
                                 total decimal(12,2), FOREIGN KEY (customer_id) REFERENCES customers (id));
            """, f"{uid}_tenant_{i}")
    try:
        dsn = mysql_server.dsn("")
        assert parse_dsn(dsn).database in (None, "")
        snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False,
                                                      include_schemas=(f"{uid}_*",)))
        report = run_audit(snap, AuditSettings())
        md = render_markdown(report).replace("\\", "")  # Markdown's escapes of _ and *
        html = render_html(report)
        audited = f"{uid}_shared, {uid}_tenant_* ({TENANTS} schemas)"
        assert f"Database design: {audited}" in md.splitlines()[0]
        assert f"<title>Database design: {audited}" in html
        assert "unknown database" not in md + html
        assert f"| Audited | {audited} at " in md
        model = er_model(snap)
        assert sorted(".".join(e.key) for e in model.entities) == [
            f"{uid}_shared.tenants", f"{uid}_tenant_1.customers", f"{uid}_tenant_1.orders"]
        assert sorted((r.child[0], r.child[1], r.parent[0], r.parent[1]) for r in model.relations) == [
            (f"{uid}_tenant_1", "customers", f"{uid}_shared", "tenants"),
            (f"{uid}_tenant_1", "orders", f"{uid}_tenant_1", "customers")]
        assert f"{uid}_tenant_* schemas: {TENANTS} schemas of the same 2 tables, {uid}_tenant_1 shown" in md
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            for name in [f"{uid}_tenant_{i}" for i in range(1, TENANTS + 1)] + [f"{uid}_shared"]:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def test_pg_er_diagram_draws_one_tenant_schema(pg_new_db: NewDb) -> None:
    seed = ["CREATE SCHEMA shared; CREATE TABLE shared.tenants (id int PRIMARY KEY, name text NOT NULL);",
            # two numbered schemas alike are no family: both stay in the diagram
            "CREATE SCHEMA app_v1; CREATE TABLE app_v1.settings (k text PRIMARY KEY, v text);",
            "CREATE SCHEMA app_v2; CREATE TABLE app_v2.settings (k text PRIMARY KEY, v text);"]
    for i in range(1, 51):
        seed.append(f"""CREATE SCHEMA tenant_{i};
            CREATE TABLE tenant_{i}.customers (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES shared.tenants);
            CREATE TABLE tenant_{i}.orders (id int PRIMARY KEY,
                                             customer_id int NOT NULL REFERENCES tenant_{i}.customers);""")
    # a tenant whose tables differ (a migration not yet run there) is drawn as itself
    seed.append("CREATE SCHEMA tenant_51; CREATE TABLE tenant_51.customers (id int PRIMARY KEY, note text);")
    dsn = pg_new_db("\n".join(seed))
    snap = collect(parse_dsn(dsn), CollectOptions(sample=False, workload=False))
    (family,) = schema_families(snap.tables)
    assert family.schemas[:3] == ("tenant_1", "tenant_2", "tenant_3") and len(family.schemas) == 50
    model = er_model(snap)
    assert sorted(".".join(e.key) for e in model.entities) == [
        "app_v1.settings", "app_v2.settings", "shared.tenants", "tenant_1.customers", "tenant_1.orders",
        "tenant_51.customers"]
    assert len(model.relations) == 2 and not model.omitted
    md = render_markdown(run_audit(snap, AuditSettings())).replace("\\", "")
    assert "tenant_* schemas: 50 schemas of the same 2 tables, tenant_1 shown" in md
    assert "6 tables and 2 foreign-key relationships" in md
