"""The same records in PostgreSQL give the same store and the same report as in SQLite.

The sensor wrote its SQLite store in its own batches; here its JSON lines go into a real
PostgreSQL server in batches of seven, which splits sessions across transactions. Equal tables
and an equal report show that the schema, the upserts and every report query mean the same on
both engines, whatever the batching.
"""

from __future__ import annotations

import json

from relaypot.events import record_from_dict
from relaypot.sinks.sql import SqlSink
from relaypot.storage.database import sqlite_url
from support import fetch, relaypot

TABLES = {
    "sessions": "session_id",
    "commands": "session_id, seq",
    "envelopes": "session_id, seq",
    "messages": "session_id, seq",
    "urls": "session_id, seq, n",
    "attachments": "session_id, seq, n",
    "credentials": "session_id, seq",
    "violations": "session_id, seq",
    "sources": "src_ip",
    "dnsbl": "src_ip, zone",
    "helo_names": "name, src_ip",
}


def _into_postgresql(recorded, url: str) -> int:
    files = sorted(recorded.data_dir.glob("events*.jsonl"))
    lines = [line for path in files for line in path.read_bytes().splitlines()]
    records = [record_from_dict(json.loads(line)) for line in lines]
    sink = SqlSink(url, (), "mail.example.com")
    sink.open()
    for start in range(0, len(records), 7):
        sink.write(records[start : start + 7])
    sink.close()
    return len(records)


def _columns(url: str, table: str) -> list[str]:
    return [row[0] for row in fetch(url, f"SELECT column_name FROM information_schema.columns "
                                         f"WHERE table_name = '{table}' ORDER BY ordinal_position")]


def test_postgresql_holds_the_same_rows_and_gives_the_same_report(recorded, postgresql_url):
    count = _into_postgresql(recorded, postgresql_url)
    sqlite = sqlite_url(recorded.data_dir / "relaypot.sqlite")
    assert fetch(postgresql_url, "SELECT count(*) FROM events") == fetch(sqlite, "SELECT count(*) FROM events") == [
        (count,)]
    for table, key in TABLES.items():
        columns = ", ".join(_columns(postgresql_url, table))
        query = f"SELECT {columns} FROM {table} ORDER BY {key}"
        on_postgresql, on_sqlite = fetch(postgresql_url, query), fetch(sqlite, query)
        assert on_postgresql == on_sqlite, table
        assert on_sqlite or table in ("attachments",), f"{table} is empty: the comparison proves nothing"

    def report(*store: str) -> dict:
        result = relaypot("report", "--format", "json", *store)
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        del document["generated"]  # the time each report was made
        return document

    assert report("--store", postgresql_url) == report("--data-dir", str(recorded.data_dir))
