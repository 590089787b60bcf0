"""Throwaway MariaDB (or MySQL) servers for the test suite and the demo.

A server lives in a fresh temporary directory, listens on a free 127.0.0.1 port and a socket inside that
directory, keeps a tiny buffer pool and no binary log (it holds nothing worth keeping), and is started with
``--no-defaults`` so that no my.cnf on the machine changes what the tests see.
:meth:`MariaDbServer.stop` stops it and deletes the directory; an ``atexit`` hook does the same when the
caller forgets or is interrupted.

``root`` authenticates with an (empty) password over TCP -- ``--auth-root-authentication-method=normal`` -- so
a DSN like ``mysql://root@127.0.0.1:PORT/db`` works without socket credentials. Grants are kept, so tests can
create users with limited privileges.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import pymysql

from auditor.throwaway import free_port, stop_server, tail

INSTALL_DB_NAMES = ("mariadb-install-db", "mysql_install_db")
SERVER_NAMES = ("mariadbd", "mysqld")
SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/mysql/bin")


class ThrowawayMySqlError(RuntimeError):
    """No usable MariaDB binaries, or the server would not start (the message carries the log's tail)."""


@dataclass(frozen=True)
class MariaDbBinaries:
    install_db: Path
    server: Path


def find_mariadb() -> MariaDbBinaries | None:
    """The MariaDB bootstrap script and server binary, or None when the machine has none."""

    def find(names: tuple[str, ...]) -> Path | None:
        for name in names:
            hit = shutil.which(name)
            if hit:
                return Path(hit)
            for folder in SEARCH_DIRS:
                candidate = Path(folder) / name
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return candidate
        return None

    install_db, server = find(INSTALL_DB_NAMES), find(SERVER_NAMES)
    if install_db is None or server is None:
        return None
    return MariaDbBinaries(install_db=install_db, server=server)


@dataclass
class MariaDbServer:
    base_dir: Path
    port: int = 0
    performance_schema: bool = True
    extra_args: tuple[str, ...] = ()
    version: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def tmp_dir(self) -> Path:
        return self.base_dir / "tmp"

    @property
    def socket_path(self) -> Path:
        return self.base_dir / "mysqld.sock"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "server.log"

    def dsn(self, database: str = "", user: str = "root", password: str = "") -> str:
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        return f"mysql://{auth}@127.0.0.1:{self.port}/{quote(database, safe='')}"

    def connect(self, database: str | None = None) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", database=database,
            autocommit=True, charset="utf8mb4", connect_timeout=5,
            client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the server (SIGTERM is MariaDB's clean shutdown) and delete its directory."""
        proc, self.process = self.process, None
        stop_server(proc, signal.SIGTERM, timeout=20, base_dir=self.base_dir, on_exit=self.stop)

    def log_tail(self, lines: int = 15) -> str:
        return tail(self.log_path, lines, missing="(no server log)")

    def __enter__(self) -> MariaDbServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_mariadb(performance_schema: bool = True, timeout: float = 60.0,
                  extra_args: Sequence[str] = (), port: int | None = None) -> MariaDbServer:
    """Bootstrap a data directory and start a server on ``port`` (default: a free one); raises
    ThrowawayMySqlError on failure.

    ``extra_args`` are further server options (``--innodb-flush-log-at-trx-commit=2``, ``--log-bin``); they
    come last, so they override the defaults above.
    """
    binaries = find_mariadb()
    if binaries is None:
        raise ThrowawayMySqlError("no MariaDB binaries found (mariadb-install-db and mariadbd)")
    # a short path: the unix socket lives inside and sun_path holds only 107 bytes
    base = Path(tempfile.mkdtemp(prefix="dbaudit-my-", dir="/tmp"))
    server = MariaDbServer(base_dir=base, performance_schema=performance_schema, extra_args=tuple(extra_args))
    atexit.register(server.stop)
    # a private tmpdir: bootstraps running at the same time in the shared /tmp remove each other's temporary
    # tables ("Unknown table 'mysql.tmp_user_sys'") and fail
    server.tmp_dir.mkdir()
    install = [
        str(binaries.install_db), "--no-defaults", f"--datadir={server.data_dir}", f"--tmpdir={server.tmp_dir}",
        "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
    ]
    with open(base / "install.log", "wb") as log:
        done = subprocess.run(install, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    if done.returncode != 0:
        lines = (base / "install.log").read_text(errors="replace").splitlines()[-10:]
        server.stop()
        raise ThrowawayMySqlError("mariadb-install-db failed: " + " | ".join(lines))
    # another process may take the free port between the probe and the bind: retry, unless the port was given
    for _attempt in range(3 if port is None else 1):
        server.port = port if port is not None else free_port()
        if _launch(server, binaries.server, timeout):
            return server
    tail = server.log_tail()
    server.stop()
    raise ThrowawayMySqlError(f"mariadbd did not start:\n{tail}")


def _launch(server: MariaDbServer, binary: Path, timeout: float) -> bool:
    args = [
        str(binary), "--no-defaults", "--user=root", f"--datadir={server.data_dir}", f"--port={server.port}",
        f"--tmpdir={server.tmp_dir}",
        "--bind-address=127.0.0.1", f"--socket={server.socket_path}",
        f"--pid-file={server.base_dir / 'p.pid'}",
        f"--log-error={server.log_path}", "--skip-name-resolve", "--skip-log-bin",
        f"--performance-schema={'ON' if server.performance_schema else 'OFF'}",
        "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0", "--max-connections=30", "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        *server.extra_args,
    ]
    server.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with server.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                row = cur.fetchone()
                server.version = str(row[0]) if row else ""
                return True
        except pymysql.err.OperationalError:
            time.sleep(0.2)
    server.process.kill()
    server.process.wait(timeout=5)
    return False


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m auditor.throwaway_mysql [--port N]``: start a server, print its DSN, stop on Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m auditor.throwaway_mysql",
                                     description="Start a throwaway MariaDB server and print its DSN.")
    parser.add_argument("--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not in the range 1 to 65535")
    try:
        server = start_mariadb(port=args.port)
    except ThrowawayMySqlError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"python -m auditor.throwaway_mysql: {first}", file=sys.stderr)
        sys.exit(2)
    print(server.dsn(), flush=True)
    try:
        while server.running():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
