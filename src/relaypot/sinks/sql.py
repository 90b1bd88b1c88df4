"""Records into the SQL store: the raw events plus typed tables, one transaction per batch."""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from relaypot.events import (
    Auth, Command, Helo, MailFrom, MessageReceived, RcptTo, Record, SessionClosed, SessionOpened, Tls,
    Violation, clean_text,
)
from relaypot.protocol.commands import domain_of
from relaypot.storage.database import Database

INSERT_EVENT = ("INSERT INTO events (session_id, seq, ts, sensor, src_ip, kind, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
INSERT_SESSION = (
    "INSERT INTO sessions (session_id, sensor, src_ip, src_port, dst_ip, dst_port, listener, persona, "
    "hostname, started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
UPDATE_HELO = "UPDATE sessions SET helo_verb = ?, helo = ? WHERE session_id = ? AND helo IS NULL"
UPDATE_TLS = "UPDATE sessions SET tls = 1 WHERE session_id = ?"
UPDATE_CLOSED = (
    "UPDATE sessions SET ended = ?, close_reason = ?, duration = ?, bytes_in = ?, bytes_out = ?, "
    "commands = ?, messages = ? WHERE session_id = ?"
)
INSERT_COMMAND = (
    "INSERT INTO commands (session_id, seq, ts, sensor, src_ip, verb, argument, raw_line, reply_code) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_ENVELOPE = (
    "INSERT INTO envelopes (session_id, seq, ts, sensor, src_ip, kind, address, domain, reply_code) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_MESSAGE = (
    "INSERT INTO messages (session_id, seq, ts, sensor, src_ip, sha256, size, path, transfer, mail_from, "
    "rcpt_to, subject, header_from, header_to, header_date, message_id, attachments, urls) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_CREDENTIAL = (
    "INSERT INTO credentials (session_id, seq, ts, sensor, src_ip, mechanism, advertised, outcome, "
    "username, password, authzid, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_VIOLATION = (
    "INSERT INTO violations (session_id, seq, ts, sensor, src_ip, violation, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)

# Statements in the order a batch runs them: a session row exists before it is updated.
ORDER = (INSERT_EVENT, INSERT_SESSION, UPDATE_HELO, UPDATE_TLS, INSERT_COMMAND, INSERT_ENVELOPE,
         INSERT_MESSAGE, INSERT_CREDENTIAL, INSERT_VIOLATION, UPDATE_CLOSED)


def _t(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def _identity(r: Record) -> tuple:
    return (r.session, r.seq, r.ts, r.sensor, r.src_ip)


def _opened(r: Record, e: SessionOpened) -> list[tuple[str, tuple]]:
    return [(INSERT_SESSION, (r.session, r.sensor, r.src_ip, e.src_port, e.dst_ip, e.dst_port, e.listener,
                              e.persona, e.hostname, r.ts))]


def _closed(r: Record, e: SessionClosed) -> list[tuple[str, tuple]]:
    return [(UPDATE_CLOSED, (r.ts, e.reason, e.duration, e.bytes_in, e.bytes_out, e.commands, e.messages,
                             r.session))]


def _helo(r: Record, e: Helo) -> list[tuple[str, tuple]]:
    return [(UPDATE_HELO, (e.verb, _t(e.hostname), r.session))]


def _tls(r: Record, e: Tls) -> list[tuple[str, tuple]]:
    return [(UPDATE_TLS, (r.session,))] if e.outcome == "established" else []


def _command(r: Record, e: Command) -> list[tuple[str, tuple]]:
    return [(INSERT_COMMAND, _identity(r) + (_t(e.verb), _t(e.argument), e.raw_line, e.reply_code))]


def _mail(r: Record, e: MailFrom) -> list[tuple[str, tuple]]:
    address = _t(e.address)
    return [(INSERT_ENVELOPE, _identity(r) + ("mail", address, domain_of(address), e.reply_code))]


def _rcpt(r: Record, e: RcptTo) -> list[tuple[str, tuple]]:
    address = _t(e.address)
    return [(INSERT_ENVELOPE, _identity(r) + ("rcpt", address, domain_of(address), e.reply_code))]


def _message(r: Record, e: MessageReceived) -> list[tuple[str, tuple]]:
    return [(INSERT_MESSAGE, _identity(r) + (
        e.sha256, e.size, e.path, e.transfer, _t(e.mail_from),
        json.dumps([clean_text(a) for a in e.rcpt_to], ensure_ascii=False),
        _t(e.subject), _t(e.header_from), _t(e.header_to), _t(e.date), _t(e.message_id),
        json.dumps(list(e.attachments), ensure_ascii=False), json.dumps(list(e.urls), ensure_ascii=False),
    ))]


def _auth(r: Record, e: Auth) -> list[tuple[str, tuple]]:
    return [(INSERT_CREDENTIAL, _identity(r) + (
        e.mechanism, int(e.advertised), e.outcome, _t(e.username), _t(e.password), _t(e.authzid), _t(e.response),
    ))]


def _violation(r: Record, e: Violation) -> list[tuple[str, tuple]]:
    return [(INSERT_VIOLATION, _identity(r) + (e.violation, _t(e.detail)))]


TYPED: dict[type, Callable[[Record, Any], list[tuple[str, tuple]]]] = {
    SessionOpened: _opened,
    SessionClosed: _closed,
    Helo: _helo,
    Tls: _tls,
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
        rows: dict[str, list[tuple]] = {statement: [] for statement in ORDER}
        events = rows[INSERT_EVENT]
        for r in records:
            events.append((r.session, r.seq, r.ts, r.sensor, r.src_ip, r.kind, r.to_json()))
            typed = TYPED.get(type(r.event))
            if typed is not None:
                for statement, params in typed(r, r.event):
                    rows[statement].append(params)
        with self.db.transaction() as db:
            for statement in ORDER:
                if rows[statement]:
                    db.executemany(statement, rows[statement])

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
