"""A throwaway PostgreSQL server on loopback for the store's tests: initdb, start, a database per test.

Debian keeps the server binaries in /usr/lib/postgresql/<version>/bin, off PATH. PostgreSQL
refuses to run as root, so as root the cluster belongs to the `postgres` user the package made.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def server_binaries() -> Path:
    """The directory holding initdb and pg_ctl; skips locally without them, fails in CI."""
    found = shutil.which("initdb")
    candidates = [Path(found).parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL's server is not installed; .ci/run must install it (apt-get install postgresql)")
    pytest.skip("PostgreSQL's server is not installed (CI installs it: apt-get install postgresql)")


class PostgresServer:
    def __init__(self, fsync: bool = False) -> None:
        self.fsync = fsync
        self.bin = server_binaries()
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                message = ("PostgreSQL will not run as root, and there is no postgres user "
                           "(apt-get install postgresql makes it)")
                if os.environ.get("CI"):
                    pytest.fail(message)
                pytest.skip(message)
        self.root = Path(tempfile.mkdtemp(prefix="relaypot-pg-"))
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def _run(self, *argv: str) -> None:
        result = subprocess.run([str(self.bin / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=120,
                                user=self.user.pw_uid if self.user else None,
                                group=self.user.pw_gid if self.user else None, cwd=self.root)
        if result.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"{argv[0]} failed: {result.stderr or result.stdout}"
                               + (log.read_text() if log.exists() else ""))

    def __enter__(self) -> PostgresServer:
        data = str(self.root / "data")
        self._run("initdb", "-D", data, "-A", "trust", "-U", "relaypot", "-E", "UTF8", "--no-locale", "--no-sync")
        # fsync off: a test server that loses data on power loss is fine, and much faster.
        options = self._options()
        self._run("pg_ctl", "-D", data, "-w", "-t", "60", "-o", options, "-l", str(self.root / "server.log"), "start")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _options(self) -> str:
        return f"-h 127.0.0.1 -p {self.port} -k {self.root}" + ("" if self.fsync else " -F")

    def restart(self) -> None:
        """Stop the server (fast: every connection is cut) and start it again on the same port."""
        options = self._options()
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "-t", "60", "-o", options,
                  "-l", str(self.root / "server.log"), "restart")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://relaypot@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            # A language's collation, as a real server's databases often have (the cluster itself
            # is --no-locale): the store must still order text as SQLite does. ICU needs no OS locale.
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
