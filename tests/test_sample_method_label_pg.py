"""NF04's evidence names the sampling method that chose the rows, on a real server: a block sample is no
uniform one.

Above ``bernoulli_max_rows`` the PostgreSQL probe reads ``TABLESAMPLE SYSTEM``: whole pages, so rows stored
together come together. The evidence of a dependency found in that sample said ``"sampling": "uniform"`` in the
JSON and SARIF details while the text said "block sample". The limit is lowered here so that a 30,000-row table
is sampled by blocks, as a table of millions would be.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from auditor.audit import AuditSettings, run_audit
from auditor.connectors import CollectOptions
from auditor.sampling import SamplingBudget
from reports.jsonfmt import render_json
from reports.sarif import render_sarif
from tests.conftest import NewDb

SEED = """
CREATE TABLE addresses (id bigint PRIMARY KEY, zip_code text NOT NULL, city text NOT NULL, street text);
INSERT INTO addresses
SELECT g, z, 'City ' || (z::int % 97), 'Street ' || (g % 911)
  FROM (SELECT g, lpad((10000 + (g * 13 % 400))::text, 5, '0') AS z FROM generate_series(1, 30000) g) s;
ANALYZE;
"""


def test_a_block_sample_is_named_a_block_sample_in_every_format(pg_new_db: NewDb,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = pg_new_db(SEED)
    from_options = SamplingBudget.from_options
    monkeypatch.setattr(SamplingBudget, "from_options", classmethod(
        lambda cls, options: dataclasses.replace(from_options(options), bernoulli_max_rows=1_000)))
    report = run_audit(dsn, AuditSettings(collect=CollectOptions(workload=False, sample_rows=5_000),
                                          select=("NF04",)))
    (f,) = [f for f in report.findings if f.code == "NF04"]
    assert f.details["sample_method"] == "system"
    assert f.message.endswith("violating rows (block sample)"), f.message
    assert f.details["evidence"]["city"]["sampling"] == "block"
    (as_json,) = [x for x in json.loads(render_json(report))["findings"] if x["code"] == "NF04"]
    assert as_json["details"]["evidence"]["city"]["sampling"] == "block"
    (result,) = [r for r in json.loads(render_sarif(report))["runs"][0]["results"] if r["ruleId"] == "NF04"]
    assert result["properties"]["details"]["evidence"]["city"]["sampling"] == "block"
