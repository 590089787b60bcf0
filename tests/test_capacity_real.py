"""CP01 toast-heavy-table and CP02 partition-candidate on real servers, their printed fixes run (rt10b).

CP02 with its row mark lowered through the option (never by loading 100 M rows): the design document's
"Partitioning candidates" section uses the same marks as the check, and on MariaDB the printed
``ALTER TABLE ... PARTITION BY`` runs although the table has an AUTO_INCREMENT primary key, a unique key, a
foreign key to a parent table and one from a child table (error 1503 and 1506 otherwise). A TIMESTAMP time
column is partitioned through UNIX_TIMESTAMP(). Look-alikes stay silent: a big table without a time or tenant
column, and a small table with one.
"""

from __future__ import annotations

from typing import Any

import psycopg

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.report import Report
from checks.capacity import PartitionCandidateOptions, ToastHeavyOptions
from reports.markdown import render_markdown
from tests.conftest import NewDb
from tests.mysql_support import (  # noqa: F401  (pytest fixtures)
    MySqlServer,
    NewMySqlDb,
    mysql_new_db,
    mysql_server,
    run_script,
)

QUICK = CollectOptions(sample=False, workload=False)
# CP01's column sample reads table data: it runs with the data sample only
SAMPLED = CollectOptions(workload=False)
CP02_LOW = {"CP02": PartitionCandidateOptions(min_rows=100_000)}
CP01_LOW = {"CP01": ToastHeavyOptions(min_toast_bytes=4 * 1024**2)}
MIB = 1024**2


def _audit(dsn: str, codes: tuple[str, ...], options: dict[str, Any], collect: CollectOptions = QUICK) -> Report:
    return run_audit(dsn, AuditSettings(collect=collect, select=codes, options=options))


def _section(text: str, title: str) -> str:
    start = text.index(f"### {title}")
    end = text.find("\n#", start + 4)
    return text[start:end if end > 0 else None]


def test_cp02_mark_is_the_documents_mark_on_postgresql(pg_new_db: NewDb) -> None:
    dsn = pg_new_db("""
        CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id int NOT NULL,
                             created_at timestamptz NOT NULL, total numeric(10, 2));
        INSERT INTO orders SELECT g, (g * 7919) % 300, now() - g * interval '1 minute', g % 997
          FROM generate_series(1, 250000) g;
        CREATE TABLE readings (id bigint PRIMARY KEY, value float8);   -- big, no time or tenant column
        INSERT INTO readings SELECT g, random() FROM generate_series(1, 150000) g;
        CREATE TABLE audit_log (id int PRIMARY KEY, created_at timestamptz NOT NULL);  -- small
        INSERT INTO audit_log SELECT g, now() FROM generate_series(1, 5000) g;
        ANALYZE;
    """)
    report = _audit(dsn, ("CP02",), CP02_LOW)
    assert {f.object.label() for f in report.findings} == {"public.orders"}
    section = _section(render_markdown(report), "Partitioning candidates")
    # rt10b: the section said "No unpartitioned table has 100,000,000 estimated rows" beside CP02's finding
    assert "No unpartitioned table" not in section, section
    assert "100,000 estimated rows" in section and "`public.orders`" in section
    assert "`public.audit_log`" not in section
    # the default marks: nothing here is big, and the section says so with the default figure
    default = _section(render_markdown(_audit(dsn, ("CP02",), {})), "Partitioning candidates")
    assert "No unpartitioned table has 100,000,000 estimated rows" in default
    # the printed fix runs
    (cp02,) = report.findings
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(cp02.remediation or "")
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'orders_partitioned'").fetchone()
        assert kind == ("p",)


def test_cp02_mariadb_fix_widens_the_keys_and_runs(mysql_new_db: NewMySqlDb,  # noqa: F811
                                                    mysql_server: MySqlServer) -> None:  # noqa: F811
    dsn = mysql_new_db("""
        CREATE TABLE tenants (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL) ENGINE=InnoDB;
        INSERT INTO tenants SELECT seq, CONCAT('tenant ', seq) FROM seq_1_to_300;
        CREATE TABLE orders (
            id BIGINT AUTO_INCREMENT PRIMARY KEY,
            tenant_id INT NOT NULL,
            ref VARCHAR(24) NOT NULL,
            created_at DATETIME NOT NULL,
            total DECIMAL(10, 2),
            UNIQUE KEY uq_orders_ref (ref),
            CONSTRAINT fk_orders_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
        ) ENGINE=InnoDB;
        INSERT INTO orders (tenant_id, ref, created_at, total)
          SELECT 1 + (seq * 7919) % 300, CONCAT('o-', seq), '2025-01-01' + INTERVAL seq MINUTE, seq % 997
          FROM seq_1_to_250000;
        CREATE TABLE order_notes (id INT PRIMARY KEY, order_id BIGINT NOT NULL, note VARCHAR(40),
            CONSTRAINT fk_notes_order FOREIGN KEY (order_id) REFERENCES orders (id)) ENGINE=InnoDB;
        INSERT INTO order_notes SELECT seq, seq, 'n' FROM seq_1_to_2000;
        CREATE TABLE clicks (id BIGINT PRIMARY KEY, happened_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            url_hash INT NOT NULL) ENGINE=InnoDB;
        INSERT INTO clicks (id, url_hash) SELECT seq, seq % 1013 FROM seq_1_to_200000;
        CREATE TABLE readings (id BIGINT PRIMARY KEY, value DOUBLE) ENGINE=InnoDB;
        INSERT INTO readings SELECT seq, RAND() FROM seq_1_to_150000;
        ANALYZE TABLE tenants, orders, order_notes, clicks, readings;
    """)
    report = _audit(dsn, ("CP02",), CP02_LOW)
    by_table = {f.object.table: f for f in report.findings}
    assert set(by_table) == {"orders", "clicks"}, [f.message for f in report.findings]
    section = _section(render_markdown(report), "Partitioning candidates")
    assert "No unpartitioned table" not in section and "100,000 estimated rows" in section, section
    fix = by_table["orders"].remediation or ""
    assert "DROP PRIMARY KEY, ADD PRIMARY KEY (`id`, `created_at`)" in fix, fix
    assert "DROP INDEX `uq_orders_ref`, ADD UNIQUE KEY `uq_orders_ref` (`ref`, `created_at`)" in fix
    assert "DROP FOREIGN KEY `fk_orders_tenant`" in fix and "DROP FOREIGN KEY `fk_notes_order`" in fix
    assert "PARTITION BY RANGE (UNIX_TIMESTAMP(`happened_at`))" in (by_table["clicks"].remediation or "")
    # rt10b: ERROR 1503 "A PRIMARY KEY must include all columns in the table's partitioning function"; now runs
    with mysql_server.connect(dsn.rsplit("/", 1)[-1]) as conn:
        for finding in by_table.values():
            run_script(conn, finding.remediation or "")
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME, COUNT(*) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = "
                        "DATABASE() AND PARTITION_NAME IS NOT NULL GROUP BY TABLE_NAME ORDER BY 1")
            assert cur.fetchall() == (("clicks", 2), ("orders", 2))
    # partitioned now: CP02 is silent on both
    assert _audit(dsn, ("CP02",), CP02_LOW).findings == ()


def test_cp01_names_the_column_that_holds_the_toast(pg_new_db: NewDb) -> None:
    """rt10b: the fix named `title` (8-byte strings, first in the table) while `body` held the 63 MB. Here
    `title` and `tags` come before `body`; pg_stats' avg_width says 18 for body (its TOAST pointer), more for
    tags: only the sampled stored size tells. `notes` has TOAST under the floor: silent."""
    dsn = pg_new_db("""
        CREATE TABLE documents (id int PRIMARY KEY, title text NOT NULL, tags text[], body text);
        INSERT INTO documents
        SELECT g, 'doc ' || g, ARRAY['draft', 'tag' || (g % 40), 'x' || g],
               (SELECT string_agg(md5(g::text || '-' || i::text), '') FROM generate_series(1, 320) i)
          FROM generate_series(1, 3000) g;
        CREATE TABLE notes (id int PRIMARY KEY, note text);
        INSERT INTO notes SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 100) i)
          FROM generate_series(1, 100) g;
    """)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # the TOAST tables' relpages
        widths = dict(conn.execute("SELECT attname, avg_width FROM pg_stats WHERE tablename = 'documents'"))
    assert widths["body"] == 18 and widths["tags"] > widths["body"]  # the trap avg_width sets
    report = _audit(dsn, ("CP01",), CP01_LOW, SAMPLED)
    (hit,) = report.findings
    assert hit.object.label() == "public.documents"
    assert hit.details["toastable_columns"][0] == "body", hit.details
    assert (hit.details["column_avg_bytes"] or {})["body"] > 5000 > (hit.details["column_avg_bytes"] or {})["title"]
    assert "ALTER COLUMN body SET COMPRESSION lz4" in (hit.remediation or ""), hit.remediation
    assert hit.message.index("body (") < hit.message.index("title")
    with psycopg.connect(dsn, autocommit=True) as conn:  # the printed fix runs
        conn.execute((hit.remediation or "").splitlines()[1].split("--")[0])
        assert conn.execute("SELECT attcompression FROM pg_attribute WHERE attrelid = 'documents'::regclass "
                            "AND attname = 'body'").fetchone() == ("l",)
