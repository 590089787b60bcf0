"""Send the demo's application traffic to the playground servers (docker/compose.yaml).

PostgreSQL gets demo/workload.py as the demo runs it; MySQL gets the same statements in its dialect. Afterwards
pg_stat_statements and performance_schema hold a few hundred statements and the usage counters show which
indexes the application reads, so that dbaudit's workload and unused-index checks have something to judge.

    PG_DSN=postgresql://dbaudit:dbaudit@127.0.0.1:55432/blog \\
    MYSQL_DSN=mysql://dbaudit:dbaudit@127.0.0.1:53306/blog python docker/workload/run.py
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from demo.workload import run_workload  # noqa: E402  (the checkout's root is put on the path first)

MYSQL_STATEMENTS: tuple[tuple[int, str, str], ...] = (
    # (times, statement, kind of parameters) -- the same mix as demo/workload.py
    (150, "SELECT id, display_name FROM users WHERE email_lower = LOWER(%s)", "email"),
    (150, "SELECT id, title, created_at FROM posts WHERE author_id = %s ORDER BY created_at DESC LIMIT 10", "user"),
    (100, "SELECT p.title, p.body, u.display_name FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = %s",
     "post"),
    (40, "SELECT count(*) FROM comments WHERE post_id = %s AND NOT hidden", "post"),
    (10, "SELECT t.name FROM post_tags pt JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id = %s", "post"),
    (30, "SELECT id FROM sessions WHERE user_id = %s AND expires_at > NOW()", "user"),
    (20, "SELECT count(*) FROM notifications WHERE user_id = %s AND read_at IS NULL", "user"),
)


def run_mysql_workload(dsn: str, seed: int = 7) -> int:
    url = urlsplit(dsn)
    rng = random.Random(seed)
    conn = pymysql.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=unquote(url.username or "root"),
        password=unquote(url.password or ""),
        database=url.path.lstrip("/"),
        autocommit=True,
    )
    sent = 0
    params = {
        "email": lambda: (f"User{rng.randint(1, 2000)}@Example.com",),
        "user": lambda: (rng.randint(1, 2000),),
        "post": lambda: (rng.randint(1, 5000),),
    }
    try:
        with conn.cursor() as cur:
            for times, sql, kind in MYSQL_STATEMENTS:
                for _ in range(times):
                    cur.execute(sql, params[kind]())
                    cur.fetchall()
                    sent += 1
            for i in range(30):
                cur.execute("INSERT INTO audit_log (id, user_id, action) VALUES (%s, %s, %s)",
                            (100_000 + i, rng.randint(1, 2000), rng.choice(("login", "logout", "post"))))
                sent += 1
    finally:
        conn.close()
    return sent


def main() -> int:
    pg_dsn = os.environ.get("PG_DSN")
    mysql_dsn = os.environ.get("MYSQL_DSN")
    if not pg_dsn and not mysql_dsn:
        print("set PG_DSN and/or MYSQL_DSN", file=sys.stderr)
        return 2
    if pg_dsn:
        print(f"postgresql: {run_workload(pg_dsn)} statements sent")
    if mysql_dsn:
        print(f"mysql: {run_mysql_workload(mysql_dsn)} statements sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
