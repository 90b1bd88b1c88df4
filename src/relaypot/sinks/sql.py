"""Records into the SQL store, one transaction per batch (rows: sinks/rows.py; statements: storage/statements.py)."""

from __future__ import annotations

from collections.abc import Sequence

from relaypot.events import Record
from relaypot.judgements import classify
from relaypot.judgements.derive import Deriver
from relaypot.sinks.base import Policy
from relaypot.sinks.rows import build_rows
from relaypot.storage.database import Database, Insert, preload_driver, schema_text
from relaypot.storage.statements import ORDER

# Seconds one batch's transaction may take at most: a healthy store takes well under one; a
# PostgreSQL that hangs becomes a failure, is retried, and then spooled. The sensor uses half
# of [store] retry_for when that is shorter, so that a hang is a failure within it.
WRITE_DEADLINE = 15.0


class SqlSink:
    """SQLite by default (`relaypot.sqlite`, WAL), PostgreSQL by URL, with the same statements."""

    name = "sql"
    policy: Policy = "store"

    def __init__(self, url: str, domains: tuple[str, ...] = (), hostname: str = "",
                 public_names: tuple[str, ...] = (), deadline: float = WRITE_DEADLINE) -> None:
        self.url = url
        self.deadline = deadline
        self.db: Database | None = None
        self.domains = domains
        self.hostname = hostname
        self.public_names = public_names
        self.deriver = Deriver(domains, hostname, public_names)
        self._failed: tuple[Sequence[Record], dict[Insert, list[tuple]]] | None = None

    def open(self) -> None:
        self.db = Database(self.url, deadline=self.deadline)
        with self.db.bounded():
            self.db.create_schema()

    def pruned_before(self) -> str:
        """The newest `relaypot prune` cutoff ("" when none): older records are not written again."""
        if self.db is None:
            self.open()
        assert self.db is not None
        row = self.db.query("SELECT max(cutoff) FROM pruned")
        return str(row[0][0]) if row and row[0][0] else ""

    def newest_event(self) -> int:
        """A mark in the records table: its newest row id (0 when empty), for `events_after`."""
        if self.db is None:
            self.open()
        assert self.db is not None
        return int(self.db.query("SELECT COALESCE(max(id), 0) FROM events")[0][0])

    def events_after(self, mark: int) -> int:
        """Rows written since `mark` (by the index on id): what an import really added."""
        if self.db is None:  # a refused write drops the connection
            self.open()
        assert self.db is not None
        return int(self.db.query("SELECT count(*) FROM events WHERE id > ?", [mark])[0][0])

    def write(self, records: Sequence[Record]) -> None:
        """One transaction. When it fails, the connection is dropped and the next call (the bus
        retries the same batch) reconnects: a restarted PostgreSQL or a dropped connection costs
        a retry, not the batch. A retried batch reuses its rows: the deriver has moved on."""
        if self._failed is not None and self._failed[0] is records:
            rows = self._failed[1]
        else:
            rows = self._rows(records)
        try:
            if self.db is None:
                self.open()
            assert self.db is not None
            with self.db.bounded(), self.db.transaction() as db:
                for statement in ORDER:
                    if rows[statement]:
                        db.insert(statement, rows[statement])
        except Exception:
            self._failed = (records, rows)
            self.close()
            raise
        self._failed = None

    def rehearse(self, records: Sequence[Record]) -> None:
        """Build the rows of `records` without writing them, with a deriver of their own (the
        sensor's keeps no trace), and load what opening the store loads."""
        self._rows(records, Deriver(self.domains, self.hostname, self.public_names))
        classify.preload()
        schema_text()
        preload_driver(self.url)

    def _rows(self, records: Sequence[Record], deriver: Deriver | None = None) -> dict[Insert, list[tuple]]:
        return build_rows(records, deriver or self.deriver)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
