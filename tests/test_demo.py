"""The demo's planted database, scanned on the suite's server: every planted problem, no look-alike."""

from __future__ import annotations

import os
import subprocess
import sys

from demo.run_demo import CONFIG, cleanup, drive, forgotten_transaction, seed, verify
from tests.conftest import NewDb


def test_demo_database_reports_exactly_its_planted_problems(pg_new_db: NewDb) -> None:
    dsn = pg_new_db()
    try:
        seed(dsn)
        drive(dsn)
        with forgotten_transaction(dsn):
            done = subprocess.run([sys.executable, "-m", "auditor.cli", "scan", dsn, "--format", "json",
                                   "--config", str(CONFIG)], capture_output=True, text=True, timeout=120)
    finally:
        cleanup(dsn)
    assert done.returncode in (0, 1), done.stderr
    # the suite's own server is a throwaway too, with the same settings and rules, unless it is someone else's
    own_server = not os.environ.get("DBAUDIT_TEST_PG_DSN", "").strip()
    assert verify(done.stdout, own_server), done.stdout[-3000:]
