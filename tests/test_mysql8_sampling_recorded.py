"""The MySQL 8 path of the sampling probe's joins and group sample, on recorded rows (no MySQL 8 server here).

MySQL 8 bounds a statement with the session's max_execution_time (MariaDB with SET STATEMENT ... FOR): every
SELECT of the probe, the foreign-key join and the whole-group sample included, must follow a
``SET SESSION max_execution_time``, and the session's value is restored at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from auditor.connectors.mysql.sampling import sample_tables
from auditor.engine import REGISTRY, iter_hits, load_checks
from auditor.sampling import SamplingBudget
from tests.builders import fk, index, pk, snap, table

load_checks()
N = 200


class Recorder:
    """A Session that logs statements and answers with rows shaped like the server's."""

    def __init__(self) -> None:
        self.queries = 0
        self.log: list[str] = []

    def run(self, sql: str) -> None:
        self.queries += 1
        self.log.append(sql)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.queries += 1
        self.log.append(sql)
        mark = {"dbaudit_probe": "dbaudit_probe"}
        if "MIN(" in sql:
            return [{**mark, "lo": 1, "hi": 100_000}]
        if "COUNT(DISTINCT" in sql:  # the join: every sampled row equals its customer's name
            return [{**mark, "n": N, "parents": N, "c0": N, "e0": N}]
        if "CRC32" in sql:  # the group sample: whole groups of two rows per customer
            return [{**mark, "h0": f"{i:016x}", "h1": f"c{i // 2}", "h2": f"n{i // 2}", "s0": 1, "s1": 0}
                    for i in range(N)]
        if "customers" in sql:
            return []
        return [{**mark, "h0": f"{i:016x}", "h1": f"c{i}", "h2": f"n{i}", "t0": f"name {i}"} for i in range(N)]


def test_mysql8_bounds_every_probe_statement_and_restores_the_session() -> None:
    s = snap(
        table("orders", ["id", "customer_id", "customer_name varchar(40)"], rows=100_000), pk("orders"),
        index("orders", ["id"], primary=True, unique=True),
        table("customers", ["id", "name varchar(40)"], rows=50_000), pk("customers"),
        fk("orders", ["customer_id"], "customers"),
    )
    s = dataclasses.replace(s, engine="mysql")
    rec = Recorder()
    sampling = sample_tables(rec, s, SamplingBudget(rows_per_table=N), "mysql", 80030, 30_000)

    selects = [i for i, q in enumerate(rec.log) if q.lstrip().startswith(("SELECT", "("))]
    assert selects and all("SET STATEMENT" not in rec.log[i] for i in selects)
    for i in selects:  # the statement before each SELECT sets the bound (or is another bounded SELECT)
        before = rec.log[i - 1]
        assert before.startswith("SET SESSION max_execution_time") or "MIN(" in before, (before, rec.log[i])
    assert rec.log[-1] == "SET SESSION max_execution_time = 30000"
    assert any("JOIN `public`.`customers` AS p" in q for q in rec.log)
    assert any("CRC32" in q and "LIMIT 200" in q for q in rec.log)

    orders = sampling.table("public", "orders")
    assert orders is not None and orders.method == "pk_ranges"
    [join] = orders.fk_joins
    assert (join.rows, join.parents, join.matches[0].column, join.matches[0].parent_column) == \
        (N, N, "customer_name", "name")
    assert orders.groups is not None and [sel.determinant for sel in orders.groups.selections][0] == ("customer_id",)

    found = list(iter_hits(REGISTRY["NF04"], dataclasses.replace(s, sampling=sampling)))
    assert [(h.details["determinant"], h.details.get("copies")) for h in found] == [
        (["customer_id"], {"customer_name": "public.customers.name"})]


def test_mysql8_json_column_is_not_read_nor_judged() -> None:
    """MySQL 8's own JSON type (rt16): the probe reads no document, so no document is a determinant or a
    dependent; NF02 names the column as structured (info)."""
    s = snap(
        table("orders", ["id", "customer_id", "customer_name varchar(40)", "settings json"], rows=100_000),
        pk("orders"), index("orders", ["id"], primary=True, unique=True),
        table("customers", ["id", "name varchar(40)"], rows=50_000), pk("customers"),
        fk("orders", ["customer_id"], "customers"),
    )
    s = dataclasses.replace(s, engine="mysql")
    rec = Recorder()
    sampling = sample_tables(rec, s, SamplingBudget(rows_per_table=N), "mysql", 80030, 30_000)
    assert not [q for q in rec.log if "`settings`" in q]
    orders = sampling.table("public", "orders")
    assert orders is not None and orders.unsampled_columns == ("settings",)
    s = dataclasses.replace(s, sampling=sampling)
    for code in ("NF03", "NF04"):
        assert not [h for h in iter_hits(REGISTRY[code], s) if "settings" in h.object.columns]
    assert [(h.object.columns, h.severity and h.severity.value) for h in iter_hits(REGISTRY["NF02"], s)] == [
        (("settings",), "info")]
