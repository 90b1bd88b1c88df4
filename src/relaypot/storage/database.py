"""Open the store named by a URL, create its schema, and run statements in either engine."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from relaypot.errors import StorageError
from relaypot.escape import clean_text
from relaypot.storage.dialect import POSTGRESQL, SQLITE, Dialect

SCHEMA_VERSION = 1

# Rows per INSERT statement: one statement for many rows is one step for the engine, and for
# SQLite one release of the GIL instead of one per row (which made the sink thread and the event
# loop hand the GIL back and forth for every row). Under SQLite's 32766 and PostgreSQL's 65535
# parameter limits for any of our tables.
ROWS_PER_STATEMENT = 200
# A batch's last rows go in statements of these sizes (greedily), never of any size from 1 to
# 199: each distinct statement is prepared and kept in the driver's statement cache, and SQLite's
# compiled program for a many-row INSERT runs to hundreds of KiB, so 200 sizes per table held about
# 40 MiB of the sensor's memory under a flood. Four sizes per table fit the cache (128) whole.
CHUNK_SIZES = (ROWS_PER_STATEMENT, 50, 10, 1)
CONNECT_TIMEOUT = 10  # seconds; a URL's own connect_timeout wins
SCHEMA_LOCK = 0x72656C6179706F74  # "relaypot": the advisory lock schema creation and upgrades hold


class Insert:
    """`INSERT INTO table (columns) VALUES (...), (...) <tail>` for any number of rows."""

    def __init__(self, table: str, columns: tuple[str, ...], tail: str = "ON CONFLICT DO NOTHING") -> None:
        self.table = table
        self.columns = columns
        self.tail = tail
        self._row = "(" + ", ".join("?" * len(columns)) + ")"
        self._sql: dict[tuple[str, int], str] = {}

    def sql(self, rows: int, dialect: Dialect) -> str:
        statement = self._sql.get((dialect.name, rows))
        if statement is None:
            statement = self._sql[(dialect.name, rows)] = dialect.sql(
                f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES "
                + ", ".join([self._row] * rows) + f" {self.tail}"
            )
        return statement


@lru_cache(maxsize=1)
def schema_text() -> str:
    """schema.sql, read once (a sensor that dropped root may not be able to read it later)."""
    return resources.files("relaypot.storage").joinpath("schema.sql").read_text(encoding="utf-8")


def preload_driver(url: str) -> None:
    """Import the driver a store URL needs, while the installation is still readable."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg  # noqa: PLC0415 (optional dependency)
            import psycopg.types.json  # noqa: PLC0415, F401
        except ImportError:
            pass  # opening the store says what to install


def chunks(count: int) -> list[tuple[int, int]]:
    """(start, end) slices covering `count` rows, each as long as one of CHUNK_SIZES."""
    found, start = [], 0
    for size in CHUNK_SIZES:
        while count - start >= size:
            found.append((start, start + size))
            start += size
    return found


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class Database:
    """A DB-API connection plus its dialect. One per thread: sqlite3 connections are not shared."""

    def __init__(self, url: str, must_exist: bool = False, deadline: float = 0.0) -> None:
        """`deadline`: seconds any one statement or transaction of this connection may take (the
        sensor's store: a PostgreSQL that hangs must become a failure, then the spool); 0: none
        (a report's queries over millions of rows take what they take)."""
        self.url = url
        self.deadline = deadline
        self._bounded = 0  # the bounded() block now running, by number: a late timer cuts nothing
        if url.startswith("sqlite:///"):
            self.dialect: Dialect = SQLITE
            # What the driver raises, before anything reaches the engine, for text it cannot bind.
            self._unbindable: tuple[type[Exception], ...] = (UnicodeEncodeError,)
            self.path = Path(url[len("sqlite:///"):])
            if must_exist and not self.path.exists():
                raise StorageError(f"no store at {self.path}: has a sensor run with this --data-dir?")
            try:
                if not must_exist:
                    self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
                    # Made 0640 before SQLite makes it (with the umask's mode); its -wal and -shm
                    # files copy the store's mode: the store holds captured passwords.
                    if not self.path.exists():
                        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o640))
                self.conn: Any = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                if must_exist:
                    # A command that reads: the sensor made the store (in WAL mode already); a file
                    # that is not one is said so, not given tables.
                    found = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone()
                    if found is None:
                        self.conn.close()
                        raise StorageError(f"{self.path} is not a relaypot store (it has no events table)")
                else:
                    self.conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a commit survives a process crash (kill -9); only a power
                # loss can take back the last transactions.
                self.conn.execute("PRAGMA synchronous=NORMAL")
            except (sqlite3.Error, OSError) as exc:
                raise StorageError(f"cannot open SQLite store {self.path}: {exc}") from None
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = POSTGRESQL
            try:
                import psycopg  # noqa: PLC0415 (optional dependency, only for PostgreSQL stores)
            except ImportError:
                raise StorageError(
                    "a PostgreSQL store needs psycopg: pip install '.[postgresql]' in relaypot's checkout "
                    "(or pip install 'psycopg[binary]')"
                ) from None
            self._unbindable = (UnicodeEncodeError, psycopg.DataError)  # DataError: NUL in text
            try:
                # A server that drops packets would otherwise hold the sink's thread for minutes.
                self.conn = psycopg.connect(url, autocommit=True, **_connection_options(url, deadline))
            except psycopg.Error as exc:
                raise StorageError(f"cannot connect to PostgreSQL: {' '.join(str(exc).split())}") from None
            if must_exist and self.conn.execute("SELECT to_regclass('events')").fetchone()[0] is None:
                self.conn.close()
                raise StorageError("this PostgreSQL database is not a relaypot store (it has no events table)")
        else:
            raise StorageError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://...")

    def create_schema(self) -> None:
        """Create what is missing: tables, indexes, and columns a newer schema.sql added."""
        text = schema_text()
        statements = [
            "\n".join(line for line in s.splitlines() if not line.strip().startswith("--")).strip()
            for s in self.dialect.schema(text).split(";")
        ]
        try:
            self._create(statements)
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001 (each engine's own error types)
            raise StorageError(f"cannot create the store's tables: {' '.join(str(exc).split())}"[:300]) from None

    def _create(self, statements: list[str]) -> None:
        with self.transaction():
            if self.dialect is POSTGRESQL:
                # A fleet's sensors may all start at once against a new database: PostgreSQL's
                # CREATE TABLE IF NOT EXISTS is no guard against another doing the same at the same
                # moment (a unique violation in its catalog), so creations and upgrades take turns.
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in statements:
                if statement.upper().startswith("CREATE TABLE"):
                    self.conn.execute(statement)
                    self._add_missing_columns(statement)
            for statement in statements:
                if statement and not statement.upper().startswith("CREATE TABLE"):
                    self.conn.execute(statement)
            row = self.conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                self.conn.execute(self.dialect.sql("INSERT INTO schema_version (version) VALUES (?)"),
                                  (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise StorageError(f"the store has schema version {row[0]}; this relaypot knows {SCHEMA_VERSION}")

    def _add_missing_columns(self, create: str) -> None:
        match = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)\s*$", create, re.S)
        if not match:
            return
        table, body = match.groups()
        existing = self._columns(table)
        for line in body.splitlines():
            definition = line.strip().rstrip(",")
            name = definition.split(" ", 1)[0]
            if not definition or name.upper() in ("PRIMARY", "UNIQUE") or name in existing:
                continue
            self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {definition}")

    def _columns(self, table: str) -> set[str]:
        if self.dialect is SQLITE:
            return {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
        rows = self.conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))
        return {row[0] for row in rows}

    def transaction(self) -> Any:
        return _Transaction(self)

    @contextmanager
    def bounded(self) -> Iterator[None]:
        """Within `deadline` or the connection is cut: a server that hangs (stopped, not gone) still
        ACKs every packet at the kernel, so neither TCP keepalives nor a user timeout notice it, and
        the server cannot enforce statement_timeout. A timer shuts the socket down; the blocked
        call then fails, as for a server that went away."""
        if self.dialect is not POSTGRESQL or not self.deadline:
            yield
            return
        self._bounded += 1
        number = self._bounded
        timer = threading.Timer(self.deadline, self._cut, (number,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            self._bounded += 1  # whatever the timer does now, it is too late to cut this block
            timer.cancel()

    def _cut(self, number: int) -> None:
        if number != self._bounded:
            return
        try:
            duplicate = os.dup(self.conn.pgconn.socket)
        except Exception:  # noqa: BLE001 (already closed: nothing to cut)
            return
        with socket.socket(fileno=duplicate) as sock:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.dialect.sql(statement), params)

    def insert(self, statement: Insert, rows: Sequence[Sequence[Any]]) -> None:
        """Insert `rows` in statements of CHUNK_SIZES rows. Text the driver cannot bind is made
        storable and the statement sent again, so no value can fail a batch; the check costs
        nothing until a value needs it."""
        for start, end in chunks(len(rows)):
            chunk = rows[start:end]
            params = [value for row in chunk for value in row]
            sql = statement.sql(len(chunk), self.dialect)
            try:
                self.conn.execute(sql, params)
            except self._unbindable as exc:
                if getattr(exc, "sqlstate", None):  # the server refused a value (not text it could
                    raise  # not be sent): its transaction is aborted, and the error names the record
                self.conn.execute(sql, [storable_text(v) if type(v) is str else v for v in params])

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(self.dialect.sql(statement), params).fetchall()

    def stream(self, statement: str, params: Sequence[Any] = (), size: int = 2000) -> Iterator[tuple]:
        """Rows a few thousand at a time: an export of a million sessions never sits in memory."""
        cursor = self.conn.execute(self.dialect.sql(statement), params)
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                return
            yield from rows

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 (closing is best effort)
            pass


def _connection_options(url: str, deadline: float) -> dict[str, Any]:
    """What a URL does not say already: a connect timeout (a server that drops packets would hold
    the sink's thread for minutes), TCP keepalives and a user timeout (a peer gone without a word),
    and for the sensor's store a statement_timeout (a lock held elsewhere)."""
    options: dict[str, Any] = {}
    given = url.split("?", 1)[1] if "?" in url else ""
    defaults: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "keepalives": 1, "keepalives_idle": 30,
                                "keepalives_interval": 10, "keepalives_count": 3, "tcp_user_timeout": 30_000}
    if deadline:
        defaults["options"] = f"-c statement_timeout={int(deadline * 1000)}"
    for key, value in defaults.items():
        if f"{key}=" not in given:
            options[key] = value
    return options


def storable_text(text: str) -> str:
    """Text every engine stores: lone surrogates (undecodable attacker bytes) and NUL (which
    PostgreSQL refuses in text) become U+FFFD; the record's JSON and `raw_line` keep the bytes."""
    text = clean_text(text)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class _Transaction:
    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> Database:
        self.db.conn.execute("BEGIN")
        return self.db

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.db.conn.execute("ROLLBACK" if exc_type else "COMMIT")
