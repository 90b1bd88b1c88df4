"""Records into the SQL store: the raw events plus typed tables, one transaction per batch."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import orjson

from relaypot.events import (
    Auth, Command, Helo, MailFrom, MessageReceived, RcptTo, Record, SessionClosed, SessionOpened, Tls,
    Violation, clean_text,
)
from relaypot.protocol.commands import domain_of
from relaypot.storage.database import Database, Insert

EVENT = Insert("events", ("session_id", "seq", "ts", "sensor", "src_ip", "kind", "payload"))
SESSION_COLUMNS = ("session_id", "sensor", "src_ip", "src_port", "dst_ip", "dst_port", "listener", "persona",
                   "hostname", "started", "ended", "helo_verb", "helo", "tls", "commands", "messages", "bytes_in",
                   "bytes_out", "close_reason", "duration", "shape")
_COL = {name: i for i, name in enumerate(SESSION_COLUMNS)}
# A session's records may span batches: what a later batch knows fills in, never erases. The first
# HELO/EHLO and the first start time win; TLS, once seen, stays. Portable to PostgreSQL as written.
SESSION = Insert("sessions", SESSION_COLUMNS, (
    "ON CONFLICT (session_id) DO UPDATE SET "
    "src_port = COALESCE(sessions.src_port, excluded.src_port), dst_ip = COALESCE(sessions.dst_ip, excluded.dst_ip), "
    "dst_port = COALESCE(sessions.dst_port, excluded.dst_port), "
    "listener = COALESCE(sessions.listener, excluded.listener), persona = COALESCE(sessions.persona, excluded.persona), "
    "hostname = COALESCE(sessions.hostname, excluded.hostname), "
    "ended = COALESCE(excluded.ended, sessions.ended), helo_verb = COALESCE(sessions.helo_verb, excluded.helo_verb), "
    "helo = COALESCE(sessions.helo, excluded.helo), "
    "tls = CASE WHEN excluded.tls = 1 THEN 1 ELSE sessions.tls END, "
    "commands = COALESCE(excluded.commands, sessions.commands), messages = COALESCE(excluded.messages, sessions.messages), "
    "bytes_in = COALESCE(excluded.bytes_in, sessions.bytes_in), bytes_out = COALESCE(excluded.bytes_out, sessions.bytes_out), "
    "close_reason = COALESCE(excluded.close_reason, sessions.close_reason), "
    "duration = COALESCE(excluded.duration, sessions.duration), shape = COALESCE(excluded.shape, sessions.shape)"
))
_IDENTITY = ("session_id", "seq", "ts", "sensor", "src_ip")
COMMAND = Insert("commands", _IDENTITY + ("verb", "argument", "raw_line", "reply_code"))
ENVELOPE = Insert("envelopes", _IDENTITY + ("kind", "address", "domain", "reply_code"))
MESSAGE = Insert("messages", _IDENTITY + (
    "sha256", "size", "path", "transfer", "mail_from", "rcpt_to", "subject", "header_from", "header_to",
    "header_date", "message_id", "attachments", "urls", "excerpt"))
URL = Insert("urls", ("session_id", "seq", "n", "ts", "url", "host"))
ATTACHMENT = Insert("attachments", ("session_id", "seq", "n", "ts", "filename", "content_type", "size", "sha256"))
CREDENTIAL = Insert("credentials", _IDENTITY + (
    "mechanism", "advertised", "outcome", "username", "password", "authzid", "response"))
VIOLATION = Insert("violations", _IDENTITY + ("violation", "detail"))

ORDER = (EVENT, SESSION, COMMAND, ENVELOPE, MESSAGE, URL, ATTACHMENT, CREDENTIAL, VIOLATION)


def _t(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def _identity(r: Record) -> tuple:
    return (r.session, r.seq, r.ts, r.sensor, r.src_ip)


def _session_row(rows: dict[str, list], r: Record) -> list:
    row = rows.get(r.session)
    if row is None:
        row = rows[r.session] = [None] * len(SESSION_COLUMNS)
        row[0], row[1], row[2], row[_COL["started"]], row[_COL["tls"]] = r.session, r.sensor, r.src_ip, r.ts, 0
    return row


def _opened(row: list, r: Record, e: SessionOpened) -> None:
    row[3:10] = [e.src_port, e.dst_ip, e.dst_port, e.listener, e.persona, e.hostname, r.ts]


def _helo(row: list, r: Record, e: Helo) -> None:
    if row[_COL["helo_verb"]] is None:
        row[_COL["helo_verb"]], row[_COL["helo"]] = e.verb, _t(e.hostname)


def _tls(row: list, r: Record, e: Tls) -> None:
    if e.outcome == "established":
        row[_COL["tls"]] = 1


def _closed(row: list, r: Record, e: SessionClosed) -> None:
    row[_COL["ended"]] = r.ts
    row[14:21] = [e.commands, e.messages, e.bytes_in, e.bytes_out, e.reason, e.duration, e.shape]


SESSION_PARTS: dict[type, Callable[[list, Record, Any], None]] = {
    SessionOpened: _opened,
    Helo: _helo,
    Tls: _tls,
    SessionClosed: _closed,
}


def _command(r: Record, e: Command) -> list[tuple[Insert, tuple]]:
    return [(COMMAND, _identity(r) + (_t(e.verb), _t(e.argument), e.raw_line, e.reply_code))]


def _mail(r: Record, e: MailFrom) -> list[tuple[Insert, tuple]]:
    address = _t(e.address)
    return [(ENVELOPE, _identity(r) + ("mail", address, domain_of(address), e.reply_code))]


def _rcpt(r: Record, e: RcptTo) -> list[tuple[Insert, tuple]]:
    address = _t(e.address)
    return [(ENVELOPE, _identity(r) + ("rcpt", address, domain_of(address), e.reply_code))]


def _message(r: Record, e: MessageReceived) -> list[tuple[Insert, tuple]]:
    rows: list[tuple[Insert, tuple]] = [(MESSAGE, _identity(r) + (
        e.sha256, e.size, e.path, e.transfer, _t(e.mail_from),
        _json([clean_text(a) for a in e.rcpt_to]),
        _t(e.subject), _t(e.header_from), _t(e.header_to), _t(e.date), _t(e.message_id),
        _json(e.attachments), _json(e.urls), _t(e.excerpt),
    ))]
    for n, url in enumerate(e.urls):
        rows.append((URL, (r.session, r.seq, n, r.ts, _t(url), url_host(url))))
    for n, a in enumerate(e.attachments):
        rows.append((ATTACHMENT, (r.session, r.seq, n, r.ts, _t(a.get("filename")), a.get("content_type", ""),
                                  a.get("size", 0), a.get("sha256", ""))))
    return rows


def url_host(url: str) -> str:
    """`http://user@Evil.Example:8080/x` → `evil.example`."""
    rest = url.split("//", 1)[-1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return clean_text(host.split(":", 1)[0].lower())


def _auth(r: Record, e: Auth) -> list[tuple[Insert, tuple]]:
    return [(CREDENTIAL, _identity(r) + (
        e.mechanism, int(e.advertised), e.outcome, _t(e.username), _t(e.password), _t(e.authzid), _t(e.response),
    ))]


def _violation(r: Record, e: Violation) -> list[tuple[Insert, tuple]]:
    return [(VIOLATION, _identity(r) + (e.violation, _t(e.detail)))]


TYPED: dict[type, Callable[[Record, Any], list[tuple[Insert, tuple]]]] = {
    Command: _command,
    MailFrom: _mail,
    RcptTo: _rcpt,
    MessageReceived: _message,
    Auth: _auth,
    Violation: _violation,
}


class SqlSink:
    """SQLite by default (`relaypot.sqlite`, WAL), PostgreSQL by URL, with the same statements."""

    name = "sql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.db: Database | None = None

    def open(self) -> None:
        self.db = Database(self.url)
        self.db.create_schema()

    def write(self, records: Sequence[Record]) -> None:
        assert self.db is not None
        rows: dict[Insert, list[tuple]] = {statement: [] for statement in ORDER}
        sessions: dict[str, list] = {}
        events = rows[EVENT]
        for r in records:
            events.append((r.session, r.seq, r.ts, r.sensor, r.src_ip, r.kind, r.to_json().decode("utf-8")))
            kind = type(r.event)
            part = SESSION_PARTS.get(kind)
            if part is not None:
                part(_session_row(sessions, r), r, r.event)
                continue
            typed = TYPED.get(kind)
            if typed is not None:
                for statement, params in typed(r, r.event):
                    rows[statement].append(params)
        rows[SESSION] = [tuple(row) for row in sessions.values()]
        with self.db.transaction() as db:
            for statement in ORDER:
                if rows[statement]:
                    db.insert(statement, rows[statement])

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
