"""Export records as CSV or JSON lines, and source addresses as a blocklist, for other tools."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any

import orjson

from relaypot.analysis.queries import Scope
from relaypot.escape import clean_text, escape_invisible, spreadsheet, visible
from relaypot.judgements.addresses import address_order, is_public
from relaypot.storage.database import Database

TABLES: dict[str, tuple[str, tuple[str, ...], str]] = {
    # name: (table, columns, order)
    "sessions": ("sessions", ("session_id", "sensor", "src_ip", "src_port", "dst_ip", "dst_port", "listener",
                              "persona", "hostname", "started", "ended", "helo_verb", "helo", "tls", "commands",
                              "messages", "bytes_in", "bytes_out", "close_reason", "duration", "shape"),
                 "started, session_id"),
    "messages": ("messages", ("session_id", "seq", "ts", "sensor", "src_ip", "sha256", "size", "path", "transfer",
                              "mail_from", "rcpt_to", "subject", "header_from", "header_to", "header_date",
                              "message_id", "urls", "attachments"), "ts, session_id, seq"),
    "credentials": ("credentials", ("session_id", "seq", "ts", "sensor", "src_ip", "mechanism", "advertised",
                                    "outcome", "username", "password", "authzid", "response"), "ts, session_id, seq"),
}


# Columns computed from other tables, per exported table; the row's alias is x.
COMPUTED: dict[str, dict[str, str]] = {
    # As the report says it: listed, clean (every zone the sensors ask answered no), or unknown.
    "sessions": {"dnsbl_status": (
        "CASE WHEN EXISTS (SELECT 1 FROM dnsbl d WHERE d.src_ip = x.src_ip AND d.listed = 1) THEN 'listed' "
        "WHEN (SELECT count(*) FROM dnsbl d WHERE d.src_ip = x.src_ip AND d.listed = 0) "
        "= (SELECT count(DISTINCT zone) FROM dnsbl) AND EXISTS (SELECT 1 FROM dnsbl) THEN 'clean' "
        "ELSE 'unknown' END")},
}


def rows(db: Database, what: str, scope: Scope) -> tuple[tuple[str, ...], Iterator[tuple]]:
    table, columns, order = TABLES[what]
    alias = "x"
    if table == "sessions":
        where, params = scope.sessions(alias)
        join = ""
    else:
        join, where, params = scope.records(alias)
    computed = COMPUTED.get(table, {})
    select = ", ".join([f"{alias}.{c}" for c in columns] + list(computed.values()))
    return columns + tuple(computed), db.stream(
        f"SELECT {select} FROM {table} {alias}{join} WHERE {where} "
        f"ORDER BY {', '.join(f'{alias}.{c.strip()}' for c in order.split(','))}", params)


def write(db: Database, what: str, scope: Scope, fmt: str, out: IO[str]) -> int:
    """CSV (formula-safe, the characters a terminal acts on shown as escapes, always: a pipe may
    end on a terminal) or JSON lines (those characters \\u-escaped: the values exact)."""
    columns, stream = rows(db, what, scope)
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in stream:
            writer.writerow([spreadsheet(visible(v)) if isinstance(v, str) else v for v in map(_text, row)])
            count += 1
    else:
        for row in stream:
            out.write(escape_invisible(orjson.dumps({c: _json(c, v) for c, v in zip(columns, row)})).decode() + "\n")
            count += 1
    return count


def _text(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


def _json(column: str, value: Any) -> Any:
    if column in ("rcpt_to", "urls", "attachments") and isinstance(value, str):
        return orjson.loads(value)  # stored as JSON text; exported as JSON, not as a string of JSON
    return _text(value)


# What each blocklist kind means, as a condition on the session's stored flags (the same the report uses).
BLOCKLIST_CONDITIONS = {
    "any": "1 = 1",
    "spam": "s.messages > 0",
    "auth": "s.auth = 1",
    "harvest": "s.harvest = 1",
    "relay": "s.relay = 1",
}


def blocklist(db: Database, scope: Scope, kind: str = "any", min_sessions: int = 1,
              include_private: bool = False) -> list[str]:
    """Source addresses, busiest first (then by address), that did `kind` in at least `min_sessions`
    sessions. Only public addresses unless `include_private`: a list that blocked 127.0.0.1, a
    private network or a documentation range would break the host that loads it."""
    where, params = scope.sessions("s")
    found = db.query(f"SELECT s.src_ip, count(*) FROM sessions s WHERE {where} AND {BLOCKLIST_CONDITIONS[kind]} "
                     f"GROUP BY s.src_ip HAVING count(*) >= ? ORDER BY count(*) DESC, s.src_ip",
                     [*params, int(min_sessions)])
    ranked = sorted(found, key=lambda row: (-row[1], address_order(row[0])))  # 127.0.0.3 before 127.0.0.27
    return [ip for ip, _ in ranked if include_private or is_public(ip)]

