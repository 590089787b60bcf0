"""The demo's application traffic: a few hundred typical queries, so usage counters and pg_stat_statements
move.

Only users and posts are read often enough (100+ times) for an unscanned index to count as evidence; the other
tables see light traffic, so their never-scanned indexes stay below unused-index's threshold on a young
server.
"""

from __future__ import annotations

import random

import psycopg


def run_workload(dsn: str, seed: int = 7) -> int:
    """Run the workload on the database at ``dsn``; returns the number of statements sent."""
    rng = random.Random(seed)
    sent = 0
    with psycopg.connect(dsn, autocommit=True, application_name="dbaudit-demo-app") as conn:
        for _ in range(150):  # login: case-insensitive e-mail lookup, through users_email_lower_idx
            email = f"User{rng.randint(1, 2000)}@Example.com"
            conn.execute("SELECT id, display_name FROM users WHERE lower(email) = lower(%s)", (email,))
            sent += 1
        for _ in range(150):  # an author's page, through posts_author_id_idx
            conn.execute(
                "SELECT id, title, created_at FROM posts WHERE author_id = %s "
                "ORDER BY created_at DESC LIMIT 10",
                (rng.randint(1, 2000),),
            )
            sent += 1
        for _ in range(100):  # a post page
            post_id = rng.randint(1, 5000)
            conn.execute("SELECT p.title, p.body, u.display_name FROM posts p "
                         "JOIN users u ON u.id = p.author_id WHERE p.id = %s", (post_id,))
            sent += 1
        for _ in range(40):  # its comments
            conn.execute("SELECT count(*) FROM comments WHERE post_id = %s AND NOT hidden",
                         (rng.randint(1, 5000),))
            sent += 1
        for _ in range(10):  # its tags
            conn.execute("SELECT t.name FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
                         "WHERE pt.post_id = %s", (rng.randint(1, 5000),))
            sent += 1
        for _ in range(30):  # session check
            conn.execute("SELECT id FROM sessions WHERE user_id = %s AND expires_at > now()",
                         (rng.randint(1, 2000),))
            sent += 1
        for _ in range(30):  # activity logging
            conn.execute("INSERT INTO audit_log (user_id, action) VALUES (%s, %s)",
                         (rng.randint(1, 2000), rng.choice(("login", "logout", "post"))))
            sent += 1
        for _ in range(20):  # unread notifications
            conn.execute("SELECT count(*) FROM notifications WHERE user_id = %s AND read_at IS NULL",
                         (rng.randint(1, 2000),))
            sent += 1
        for _ in range(40):  # a user's comment history: comments has no index on author_id (WL02)
            conn.execute("SELECT id, body, created_at FROM comments WHERE author_id = %s "
                         "ORDER BY created_at DESC", (rng.randint(1, 2000),))
            sent += 1
        for page in range(30):  # the front page, paged with OFFSET (WL04)
            conn.execute("SELECT id, title FROM posts ORDER BY created_at DESC LIMIT 20 OFFSET %s",
                         (20 * (page % 10),))
            sent += 1
        for _ in range(30):  # the archive, paged by keyset: fine
            conn.execute("SELECT id, title, created_at FROM posts WHERE created_at < now() - %s::interval "
                         "ORDER BY created_at DESC LIMIT 20", (f"{rng.randint(1, 900)} hours",))
            sent += 1
        author_ids = [r[0] for r in conn.execute("SELECT author_id FROM comments ORDER BY id LIMIT 1500")]
        sent += 1
        for author_id in author_ids:  # each comment's author fetched one by one: N+1 (WL03)
            conn.execute("SELECT display_name FROM users WHERE id = %s", (author_id,))
            sent += 1
    return sent
