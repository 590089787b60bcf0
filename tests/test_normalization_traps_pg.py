"""A realistic PostgreSQL database scanned as a new user would: planted normalization problems of realistic
cardinality are reported, their look-alikes a DBA would not accept are not.

tasks (100,000 rows, 20,000 projects, 5 tasks per project on average):
- planted: project_name copies projects.name through project_id (each project appears about once in the
  uniform sample: only the join shows it); country_name is determined by country_code (150 codes);
- traps: tenant_id equals projects.tenant_id on every row, but a row-level security policy reads it (a column
  carried for the policy); note is NULL on 85 % of the rows and written only on open tasks (note -> status
  holds, a coincidence of workflow); priority follows status in 97 % of the rows; created_by is nearly unique.
"""

from __future__ import annotations

import dataclasses

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks, select_checks
from tests.conftest import NewDb

SEED = """
CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO tenants SELECT g, 'Tenant ' || g FROM generate_series(1, 50) g;
CREATE TABLE projects (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, name text NOT NULL);
INSERT INTO projects SELECT g, 1 + (hashint4(g) & 49) % 50, 'Project ' || (hashint4(g * 3) & 16777215)
FROM generate_series(1, 20000) g;
CREATE TABLE tasks (
  id bigint PRIMARY KEY,
  project_id int NOT NULL REFERENCES projects,
  tenant_id int NOT NULL,
  project_name text NOT NULL,
  status text NOT NULL,
  priority int NOT NULL,
  note text,
  country_code text NOT NULL,
  country_name text NOT NULL,
  created_by text NOT NULL
);
INSERT INTO tasks
SELECT g, p.id, p.tenant_id, p.name, s.status,
       CASE WHEN (hashint4(g * 7) & 127) < 4 THEN 1 + (hashint4(g * 11) & 3)
            ELSE CASE s.status WHEN 'open' THEN 1 WHEN 'doing' THEN 2 ELSE 3 END END,
       CASE WHEN s.status = 'open' AND (hashint4(g * 13) & 7) < 3
            THEN (ARRAY['call back', 'waiting on customer', 'needs review', 'blocked'])[1 + (hashint4(g) & 3)] END,
       'C' || c.code, 'Country ' || (c.code * 7919 % 1000), 'user' || (hashint4(g * 17) & 1048575)
FROM generate_series(1, 100000) g
JOIN projects p ON p.id = 1 + (hashint4(g * 5) & 1048575) % 20000
CROSS JOIN LATERAL (SELECT (ARRAY['open', 'doing', 'done'])[1 + (hashint4(g * 19) & 1023) % 3] AS status) s
CROSS JOIN LATERAL (SELECT (hashint4(g * 23) & 1023) % 150 AS code) c;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks USING (tenant_id = current_setting('app.tenant_id', true)::int);
ANALYZE;
"""


def test_planted_problems_reported_and_look_alikes_silent(pg_new_db: NewDb) -> None:
    dsn = pg_new_db(SEED)
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False))
    tasks = snap.table("public", "tasks")
    assert tasks is not None and tasks.policy_columns == ("tenant_id",)
    findings = run_checks(snap, select_checks(all_checks(), ["NF01", "NF02", "NF03", "NF04"])).findings
    got = sorted((f.code, f.object.table, tuple(f.details["determinant"]), tuple(f.details["dependent"]))  # type: ignore[arg-type]
                 for f in findings)
    assert got == [
        ("NF04", "tasks", ("country_code",), ("country_name",)),
        ("NF04", "tasks", ("project_id",), ("project_name",)),
    ], [f.message for f in findings]
    copy = next(f for f in findings if f.details["determinant"] == ["project_id"])
    assert copy.details["copies"] == {"project_name": "public.projects.name"}

    # without the policy, tenant_id is a copy like project_name
    bare = dataclasses.replace(snap, tables=tuple(
        dataclasses.replace(t, policy_columns=()) if t.name == "tasks" else t for t in snap.tables))
    again = run_checks(bare, select_checks(all_checks(), ["NF04"])).findings
    copies = next(f for f in again if f.details["determinant"] == ["project_id"]).details["copies"]
    assert copies == {"project_name": "public.projects.name", "tenant_id": "public.projects.tenant_id"}
