"""Red team 2, case A: a helpdesk + inventory schema on MariaDB, scanned by a SELECT-only account.

The schema (tests/data/hidden_mysql/schema.sql) and the workload come from the red team's case, with fewer
rows and a short SLEEP standing in for their 4 s aggregate. The audit account has only ``SELECT ON db.*`` and
``SELECT ON performance_schema.*``: information_schema then hides TABLE_CONSTRAINTS and
REFERENTIAL_CONSTRAINTS, which once made every key vanish (KY01 on every table, DROP of foreign key indexes).
The answer key is the [P] (planted) and [T] (trap) marks of the schema and of the workload below.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import RunResult, all_checks, run_checks, select_checks
from auditor.model import Finding, Snapshot
from tests.mysql_support import MySqlServer, mysql_server, new_db_on  # noqa: F401

SCHEMA = (Path(__file__).parent / "data" / "hidden_mysql" / "schema.sql").read_text(encoding="utf-8")
T0 = dt.datetime(2024, 1, 1)
WORDS = ["login", "error", "billing", "invoice", "sso", "crash", "slow", "export", "api", "password", "mobile",
         "sync", "timeout", "refund"]
STATUSES = ["new", "open", "pending", "solved", "closed"]
N_ORGS, N_USERS, N_TICKETS = 1000, 4000, 12000  # WL02 judges tables of 10,000 rows and more


def load(cur: Any, r: random.Random) -> dict[str, Any]:
    """The red team's loader with fewer rows; returns what the workload needs to pick real values."""

    def ts() -> dt.datetime:
        return T0 + dt.timedelta(seconds=r.randrange(0, 86400 * 500))

    def ins(table: str, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
        sql = f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join(['%s'] * len(cols))})"
        for i in range(0, len(rows), 2000):
            cur.executemany(sql, rows[i:i + 2000])

    cur.execute("SET foreign_key_checks=0")
    ins("plans", ["id", "code", "name", "monthly_price"],
        [(1, "free", "Free", 0), (2, "team", "Team", 49), (3, "biz", "Business", 199), (4, "ent", "Enterprise", 999)])
    countries = [("US", "United States"), ("DE", "Germany"), ("FR", "France"), ("GB", "United Kingdom"),
                 ("JP", "Japan"), ("BR", "Brazil"), ("IN", "India"), ("CA", "Canada"), ("AU", "Australia"),
                 ("ES", "Spain"), ("IT", "Italy"), ("NL", "Netherlands")]
    orgs = []
    for i in range(1, N_ORGS + 1):
        cc = r.choice(countries)
        orgs.append((i, f"Org {i} {r.choice(['Ltd', 'GmbH', 'Inc', 'SA'])}", f"org{i}.example.com",
                     r.choice(["free", "team", "biz", "ent", None]), cc[0], cc[1], ts()))
    ins("organizations", ["id", "name", "domain", "plan_code", "country_code", "country_name", "created_at"], orgs)
    first = ["Ann", "Bob", "Carla", "Dmitri", "Eve", "Farid", "Gita", "Hans", "Ines", "Jules", "Kenji", "Lea"]
    last = ["Smith", "Muller", "Garcia", "Rossi", "Tanaka", "Silva", "Khan", "Martin", "Novak", "Berg"]
    cities = ["Berlin", "Paris", "Tokyo", "Austin", "Lyon", "Osaka", "Madrid", "Toronto", "Pune", "Recife"]
    users = []
    for i in range(1, N_USERS + 1):
        users.append((i, r.randrange(1, N_ORGS + 1), f"user{i}@mail{i % 50}.example",
                      f"{r.choice(first)} {r.choice(last)} {i}", f"+1-555-{r.randrange(1000000):07d}",
                      f"+1-555-{r.randrange(1000000):07d}" if r.random() < .5 else None,
                      None if r.random() < .8 else f"+1-555-{r.randrange(1000000):07d}",
                      f"{r.randrange(1, 999)} Main St", f"Apt {r.randrange(1, 99)}" if r.random() < .3 else None,
                      r.choice(cities), ts()))
    ins("users", ["id", "organization_id", "email", "full_name", "phone1", "phone2", "phone3", "address_line1",
                  "address_line2", "city", "created_at"], users)
    ins("teams", ["id", "name"],
        [(i, f"Team {n}") for i, n in enumerate(["L1", "L2", "Billing", "Infra", "Security", "Mobile"], 1)])
    ins("agents", ["id", "user_id", "team_id", "level"],
        [(i, i, r.randrange(1, 7), r.randrange(1, 4)) for i in range(1, 201)])
    skills = ["sql", "billing", "sso", "ios", "android", "network", "linux", "windows"]
    ins("agent_skills", ["agent_id", "skill", "level"],
        [(a, s, r.randrange(1, 6)) for a in range(1, 201) for s in r.sample(skills, 3)])
    tickets = []
    for i in range(1, N_TICKETS + 1):
        u = r.randrange(1, N_USERS + 1)
        t = ts()
        tickets.append((i, users[u - 1][1], u, r.randrange(1, 201) if r.random() < .8 else None,
                        " ".join(r.sample(WORDS, 4)).capitalize(), r.choices(STATUSES, [1, 2, 1, 3, 5])[0],
                        r.randrange(1, 5), f"contact{r.randrange(10**9)}@cust.example", t,
                        t + dt.timedelta(hours=r.randrange(1, 300))))
    ins("tickets", ["id", "organization_id", "requester_id", "assignee_id", "subject", "status", "priority",
                    "contact_email", "created_at", "updated_at"], tickets)
    ins("ticket_comments", ["ticket_id", "author_id", "body", "is_public", "created_at"],
        [(r.randrange(1, N_TICKETS + 1), r.randrange(1, N_USERS + 1), " ".join(r.choices(WORDS, k=25)),
          r.randrange(2), ts()) for _ in range(6000)])
    tags = [(i, w) for i, w in enumerate(WORDS + ["vip", "bug", "feature", "question", "outage", "p1"], 1)]
    ins("tags", ["id", "name"], tags)
    tt: set[tuple[int, int]] = set()
    while len(tt) < 6000:
        tt.add((r.randrange(1, N_TICKETS + 1), r.randrange(1, len(tags) + 1)))
    ins("ticket_tags", ["ticket_id", "tag_id", "tag_name", "added_at"],
        [(t, g, tags[g - 1][1], ts()) for t, g in sorted(tt)])
    ins("ticket_history", ["ticket_id", "field", "old_value", "new_value", "changed_at"],
        [(r.randrange(1, N_TICKETS + 1), r.choice(["status", "priority", "assignee", "subject"]),
          r.choice(STATUSES), r.choice(STATUSES), ts()) for _ in range(5000)])
    kb = []
    for i in range(1, 1001):
        tg = r.sample(["billing", "sso", "login", "api", "mobile", "export", "security", "sync"], r.randrange(2, 5))
        kb.append((f"how-to-{i}-{tg[0]}", f"How to fix {tg[0]} issue {i}",
                   f"If {tg[0]} fails, check the settings, then retry, and contact support if it persists ({i}).",
                   " ".join(r.choices(WORDS, k=60)), ",".join(tg),
                   f"{r.randrange(1, 4)}.{r.randrange(0, 20)}.{r.randrange(0, 10)}", ts()))
    ins("kb_articles", ["slug", "title", "summary", "body", "related_tags", "version_label", "published_at"], kb)
    ins("audit_events", ["event_time", "actor_id", "action", "payload"],
        [(ts(), r.randrange(1, N_USERS + 1), r.choice(["login", "logout", "update", "delete", "export"]),
          f'{{"ip":"10.0.{r.randrange(256)}.{r.randrange(256)}"}}') for _ in range(3000)])
    ins("user_settings", ["user_id", "theme", "locale"],
        [(i, r.choice(["dark", "light"]), r.choice(["en", "de", "fr", "ja"])) for i in range(1, 2001)])
    # one notification per user on average, so each lookup by user reads about one row through the FK index
    ins("notifications", ["user_id", "channel", "sent_at"],
        [(r.randrange(1, N_USERS + 1), r.choice(["email", "sms", "push", "slack"]), ts()) for _ in range(N_USERS)])
    ins("assets", ["serial", "model", "assigned_user_id"],
        [(f"SN{i:08d}", r.choice(["X1", "T14", "MBP", "XPS"]), r.randrange(1, N_USERS + 1) if r.random() < .7
          else None) for i in range(1000)])
    cur.execute("SELECT MIN(id) FROM assets")
    a0 = cur.fetchone()[0]
    whs = [f"W{i:03d}" for i in range(1, 41)]
    ins("inventory_movements", ["asset_id", "warehouse_code", "moved_at", "qty"],
        [(a0 + r.randrange(1000), r.choice(whs), ts(), r.randrange(-5, 10)) for _ in range(20000)])
    ins("tickets_archive", ["id", "subject", "closed_at"], [(t[0], t[4], t[9]) for t in tickets])
    ins("attachments", ["ticket_id", "filename", "bytes"],
        [(r.randrange(1, N_TICKETS + 1), f"screenshot_{i}.png", r.randrange(10**3, 10**7)) for i in range(2000)])
    cur.execute("SET foreign_key_checks=1")
    cur.execute("SHOW TABLES")
    cur.execute("ANALYZE TABLE " + ",".join(str(row[0]) for row in cur.fetchall()))
    cur.fetchall()
    return {"users": users, "tickets": tickets, "kb": kb, "whs": whs}


def workload(cur: Any, r: random.Random, data: dict[str, Any]) -> None:
    """The application's statements, on its own connection (the red team's mix, fewer calls)."""
    users, tickets, kb, whs = data["users"], data["tickets"], data["kb"], data["whs"]

    def run(sql: str, args: tuple[Any, ...] | None = None) -> None:
        cur.execute(sql, args)
        cur.fetchall()

    for _ in range(60):  # [P] WL03: a queue page of 25 tickets, then each requester looked up one by one
        cur.execute("SELECT id, requester_id, subject FROM tickets WHERE status = %s ORDER BY created_at DESC "
                    "LIMIT 25", (r.choice(STATUSES),))
        for _, requester, _ in cur.fetchall():
            run("SELECT id, email, full_name FROM users WHERE id = %s", (requester,))
    for _ in range(250):  # [T] a tiny table by its unique key: neither WL03 nor WL02
        run("SELECT id, name, monthly_price FROM plans WHERE code = %s", (r.choice(["free", "team", "biz", "ent"]),))
    for _ in range(120):  # [T] a tiny table by an unindexed column: not WL02
        run("SELECT id, monthly_price FROM plans WHERE name = %s", (r.choice(["Free", "Team", "Business"]),))
    for _ in range(60):  # [P] WL02: tickets by contact_email, no index
        run("SELECT id, status, subject FROM tickets WHERE contact_email = %s", (r.choice(tickets)[7],))
    for _ in range(60):  # [P] WL02: inventory_movements by warehouse and time
        run("SELECT SUM(qty) FROM inventory_movements WHERE warehouse_code = %s AND moved_at >= %s",
            (r.choice(whs), T0 + dt.timedelta(days=r.randrange(400, 490))))
    for _ in range(150):  # [T] the queue query ix_tickets_status_created serves
        run("SELECT id, subject FROM tickets WHERE status = %s ORDER BY created_at DESC LIMIT 25",
            (r.choice(STATUSES),))
    for _ in range(80):  # [P] WL04: OFFSET paging
        run("SELECT id, subject, status FROM tickets ORDER BY id DESC LIMIT 20 OFFSET %s", (20 * r.randrange(200),))
    for _ in range(40):  # [P] WL04: the comma form, whose MariaDB digest reads LIMIT ?, ...
        run("SELECT id, title FROM kb_articles ORDER BY published_at DESC LIMIT %s, 20", (20 * r.randrange(50),))
    for _ in range(80):  # [T] keyset pagination: not WL04
        run("SELECT id, subject, status FROM tickets WHERE id < %s ORDER BY id DESC LIMIT 20",
            (r.randrange(100, N_TICKETS),))
    for _ in range(200):  # [P] IX01 context: notifications read through the FK index, never ix_notif_channel
        run("SELECT id, channel, sent_at FROM notifications WHERE user_id = %s ORDER BY sent_at DESC LIMIT 10",
            (r.randrange(1, N_USERS + 1),))
    for _ in range(60):  # [T] FULLTEXT indexes in use (performance_schema counts no reads for them)
        run("SELECT id, subject FROM tickets WHERE MATCH(subject) AGAINST (%s) LIMIT 20", (r.choice(WORDS),))
    for _ in range(40):
        run("SELECT id, title FROM kb_articles WHERE MATCH(title, body) AGAINST (%s IN NATURAL LANGUAGE MODE) "
            "LIMIT 10", (r.choice(WORDS),))
    for _ in range(100):  # [T] the name indexes in use
        run("SELECT id FROM users WHERE full_name = %s", (r.choice(users)[3],))
        run("SELECT id FROM users WHERE full_name LIKE %s", (r.choice(users)[3][:6] + "%",))
    for _ in range(100):  # [T] slug lookups through the unique index and the composite
        run("SELECT id, title FROM kb_articles WHERE slug = %s", (r.choice(kb)[0],))
    for _ in range(50):
        run("SELECT id FROM kb_articles WHERE slug = %s AND published_at > %s", (r.choice(kb)[0], T0))
    for _ in range(150):
        run("SELECT field, old_value, new_value FROM ticket_history WHERE ticket_id = %s ORDER BY changed_at",
            (r.randrange(1, N_TICKETS + 1),))
        run("SELECT id, body FROM ticket_comments WHERE ticket_id = %s ORDER BY created_at",
            (r.randrange(1, N_TICKETS + 1),))
    for _ in range(100):
        cur.execute("UPDATE tickets SET status = %s, updated_at = NOW() WHERE id = %s",
                    (r.choice(STATUSES), r.randrange(1, N_TICKETS + 1)))
        cur.execute("INSERT INTO audit_events (event_time, actor_id, action, payload) VALUES (NOW(), %s, 'update', "
                    "NULL)", (r.randrange(1, N_USERS + 1),))
    for _ in range(20):  # [P] WL01: stands for the red team's 4 s aggregate (20 calls: WL01's min_calls)
        run("SELECT SLEEP(%s), COUNT(*) FROM plans", (0.12,))


@pytest.fixture(scope="module")
def helpdesk(mysql_server: MySqlServer) -> Iterator[tuple[MySqlServer, str, str]]:  # noqa: F811
    db, _ = new_db_on(mysql_server, SCHEMA)
    r = random.Random(7)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        data = load(cur, r)
    with mysql_server.connect(db) as conn, conn.cursor() as cur:
        workload(cur, r, data)
    user, password = f"audit_{uuid.uuid4().hex[:8]}", "audit-pw-1"
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT SELECT ON `{db}`.* TO '{user}'@'%'")
        cur.execute(f"GRANT SELECT ON performance_schema.* TO '{user}'@'%'")
    try:
        yield mysql_server, db, mysql_server.dsn(db, user=user, password=password)
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")


def _scan(dsn: str, options: CollectOptions | None = None) -> tuple[Snapshot, RunResult]:
    snap = collect(parse_dsn(dsn), options or CollectOptions())
    return snap, run_checks(snap, select_checks(all_checks(), ["IX", "KY", "NF", "WL"]))


@pytest.fixture(scope="module")
def scanned(helpdesk: tuple[MySqlServer, str, str]) -> tuple[Snapshot, RunResult]:
    return _scan(helpdesk[2])


def _objects(result: RunResult, code: str) -> set[str]:
    return {_name(f) for f in result.findings if f.code == code}


def _name(f: Finding) -> str:
    o = f.object
    if o.type == "index":
        return f"{o.table}.{o.index}"
    if o.query is not None:
        return " ".join(o.query.split())
    if o.columns:
        return f"{o.table}({', '.join(o.columns)})"
    return f"{o.table}" + (f".{o.sequence}" if o.sequence else "")


def test_a_select_only_account_still_sees_every_key(scanned: tuple[Snapshot, RunResult]) -> None:
    snap, result = scanned
    # 17 of the 19 tables have a primary key; KY01 once fired on all 19
    assert {f.object.table for f in result.findings if f.code == "KY01"} <= {"audit_events", "user_settings"}
    assert "audit_events" in {f.object.table for f in result.findings if f.code == "KY01"}
    fks = [c for c in snap.constraints if c.type == "foreign_key"]
    assert len(fks) == 18
    assert len([c for c in snap.constraints if c.type == "primary_key"]) == 17
    # REFERENTIAL_CONSTRAINTS is hidden from this account: the actions are unknown, and a note says so
    assert all(c.on_delete is None for c in fks)
    assert any("REFERENTIAL_CONSTRAINTS" in n.message for n in snap.notes)
    marked = {(i.table, i.name) for i in snap.indexes if i.supports_fk}
    assert {("tickets", "ix_tickets_org"), ("notifications", "fk_notif_user"), ("users", "fk_users_org")} <= marked


def test_planted_key_and_index_findings(scanned: tuple[Snapshot, RunResult]) -> None:
    _, result = scanned
    assert _objects(result, "KY02") == {"attachments(ticket_id)"}  # not organizations.plan_code (NULL only)
    # the AUTO_INCREMENT counter of notifications, not assets (BIGINT) nor inventory_movements (UNSIGNED)
    assert _objects(result, "KY04") == {"notifications(id)"}  # the AUTO_INCREMENT column, not a "sequence"
    assert _objects(result, "IX02") & {"ticket_history.ix_hist_ticket_copy", "ticket_history.ix_hist_ticket"}
    assert "tickets.ix_tickets_status" in _objects(result, "IX03")
    assert "kb_articles.uq_kb_slug" not in _objects(result, "IX03")  # a unique index enforces something
    flagged = _objects(result, "IX01")
    assert "notifications.ix_notif_channel" in flagged
    never = {"tickets.ft_tickets_subject", "kb_articles.ft_kb", "tickets.ix_tickets_org",
             "notifications.fk_notif_user", "ticket_comments.fk_comments_ticket", "users.fk_users_org"}
    assert not flagged & never
    # no proposal to drop an index InnoDB keeps for a foreign key (error 1553)
    for f in result.findings:
        if f.code == "IX01" and f.remediation:
            assert "fk_" not in (f.object.index or "")


def test_planted_normalization_findings(scanned: tuple[Snapshot, RunResult]) -> None:
    _, result = scanned
    nf01 = {f.object.table for f in result.findings if f.code == "NF01"}
    assert "users" in nf01
    nf02 = _objects(result, "NF02")
    assert any("related_tags" in n for n in nf02)
    assert not any("summary" in n or "version_label" in n for n in nf02)
    nf03 = " ".join(_objects(result, "NF03")) + " ".join(f.message for f in result.findings if f.code == "NF03")
    assert "tag_name" in nf03 and "agent_skills" not in nf03
    nf04 = " ".join(f.message for f in result.findings if f.code == "NF04")
    assert "country_name" in nf04


def test_planted_workload_findings(scanned: tuple[Snapshot, RunResult]) -> None:
    _, result = scanned
    # the fixture's own multi-row INSERTs (its data load) are a bulk load, set apart: never a slow query
    assert _objects(result, "WL01") == {"SELECT `SLEEP` (?) , COUNT ( * ) FROM `plans`"}
    assert [q for q in _objects(result, "WL03") if "`users`" in q]
    wl02 = " ".join(_objects(result, "WL02")) + " ".join(f.message for f in result.findings if f.code == "WL02")
    assert "contact_email" in wl02 and "warehouse_code" in wl02
    assert "`plans`" not in " ".join(_objects(result, "WL02"))
    wl04 = _objects(result, "WL04")
    assert any("`kb_articles`" in q and "LIMIT ?, ..." in q for q in wl04)
    assert any("OFFSET" in q for q in wl04)
    assert not any("WHERE `id` <" in q for q in wl04)  # keyset


def test_rescans_do_not_make_unused_indexes_appear(helpdesk: tuple[MySqlServer, str, str]) -> None:
    # each scan samples every table (full scans, primary key ranges): that must never become IX01 evidence
    dsn = helpdesk[2]
    before = _objects(_scan(dsn, CollectOptions(workload=False))[1], "IX01")
    for _ in range(19):
        collect(parse_dsn(dsn), CollectOptions(workload=False))
    after_snap, after = _scan(dsn, CollectOptions(workload=False))
    assert _objects(after, "IX01") == before
    for f in after.findings:
        if f.code == "IX01":
            assert "rows" in f.message and "times" not in f.message
    # performance_schema counts rows: the connector keeps them under row names, no scan count
    events = after_snap.table(helpdesk[1], "audit_events")
    assert events is not None and events.stats.seq_scan is None and events.stats.seq_tup_read
