"""Records → the rows of the SQL store's tables (storage/statements.py), with the derived facts.

One RowBuilder per batch. Each event kind has one method; a session's row is a SessionRow with
named fields, filled in as its records arrive and merged by the SESSION upsert across batches.
Attacker text that a derived column or a join key is computed from goes through `_t` first, so
the derivation sees what the table holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, overload

import orjson

from relaypot.events import (
    Attack,
    Auth,
    Command,
    DnsblResult,
    Fragment,
    GeoFound,
    Helo,
    HeloDns,
    MailFrom,
    MessageReceived,
    OsFingerprint,
    ProbeDelivery,
    RcptTo,
    Record,
    ReverseDns,
    SessionClosed,
    SessionOpened,
    Tls,
    Violation,
    json_safe,
)
from relaypot.judgements.addresses import domain_of, url_host
from relaypot.judgements.classify import subject_template
from relaypot.judgements.derive import Deriver
from relaypot.storage.database import Insert, storable_text
from relaypot.storage.statements import (
    ATTACHMENT,
    ATTACK,
    COMMAND,
    CREDENTIAL,
    DELIVERY,
    DNSBL,
    ENVELOPE,
    EVENT,
    FRAGMENT,
    HELO_NAME,
    KEYED,
    MESSAGE,
    ORDER,
    SESSION,
    SESSION_COLUMNS,
    SOURCE_GEO,
    SOURCE_OS,
    SOURCE_RDNS,
    URL,
    VIOLATION,
)


@dataclass(slots=True)
class SessionRow:
    """A `sessions` row as this batch knows it; None is "not in this batch" (the upsert keeps the
    stored value), a flag is 0 until something in the batch sets it."""

    session_id: str
    sensor: str
    src_ip: str
    started: str
    hour: str
    src_port: int | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    listener: str | None = None
    persona: str | None = None
    hostname: str | None = None
    ended: str | None = None
    helo_verb: str | None = None
    helo: str | None = None
    tls: int = 0
    commands: int | None = None
    messages: int | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    close_reason: str | None = None
    duration: float | None = None
    shape: str | None = None
    helo_class: str | None = None
    helo_syntax: str | None = None
    helo_peer: int | None = None
    relay: int = 0
    probe: int = 0
    auth: int = 0
    harvest: int = 0
    tls_ja3: str | None = None
    tls_ja4: str | None = None


assert {f.name for f in fields(SessionRow)} == set(SESSION_COLUMNS), "SessionRow and SESSION_COLUMNS disagree"
_session_values = attrgetter(*SESSION_COLUMNS)


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


@overload
def _t(value: str) -> str: ...
@overload
def _t(value: None) -> None: ...
@overload
def _t(value: str | None) -> str | None: ...
def _t(value: str | None) -> str | None:
    """Attacker text as the store will hold it (`storable_text`), for the values the sink also
    derives from or keys by, so a derived column and a join key see what the table holds."""
    if value is None:
        return None
    return value if value.isascii() and "\x00" not in value else storable_text(value)


def _json(value: Any) -> str:
    return orjson.dumps(json_safe(value)).decode("utf-8")


class RowBuilder:
    """The rows one batch of records becomes."""

    def __init__(self, deriver: Deriver) -> None:
        self.deriver = deriver
        self.rows: dict[Insert, list[tuple]] = {statement: [] for statement in ORDER}
        self.sessions: dict[str, SessionRow] = {}
        self.keyed: dict[Insert, dict[tuple, tuple]] = {statement: {} for statement in KEYED}

    def add(self, r: Record) -> None:
        self.rows[EVENT].append((r.session, r.seq, r.ts, r.sensor, r.src_ip, r.kind, r.to_json().decode("utf-8")))
        handler = HANDLERS.get(type(r.event))
        if handler is not None:
            handler(self, r, r.event)

    def finish(self) -> dict[Insert, list[tuple]]:
        """Every statement's rows, sessions and the one-per-key tables included."""
        self.rows[SESSION] = [_session_values(row) for row in self.sessions.values()]
        for statement, rows in self.keyed.items():
            self.rows[statement] = list(rows.values())
        return self.rows

    def session(self, r: Record) -> SessionRow:
        row = self.sessions.get(r.session)
        if row is None:
            row = self.sessions[r.session] = SessionRow(r.session, r.sensor, r.src_ip, r.ts, r.ts[:13])
        return row

    def identity(self, r: Record) -> tuple:
        return (r.session, r.seq, r.ts, r.sensor, r.src_ip)

    # one method per event kind -------------------------------------------------------------

    def opened(self, r: Record, e: SessionOpened) -> None:
        self.deriver.opened(r.session, e.hostname, e.dst_ip)
        row = self.session(r)
        row.src_port, row.dst_ip, row.dst_port = e.src_port, e.dst_ip, e.dst_port
        row.listener, row.persona, row.hostname = e.listener, e.persona, e.hostname
        row.started, row.hour = r.ts, r.ts[:13]

    def helo(self, r: Record, e: Helo) -> None:
        row = self.session(r)
        if row.helo_verb is None:
            row.helo_verb, row.helo = e.verb, _t(e.hostname)
            row.helo_class, row.helo_syntax, row.helo_peer = self.deriver.helo(r.session, e.hostname, r.src_ip)

    def tls(self, r: Record, e: Tls) -> None:
        row = self.session(r)
        if e.outcome == "established":
            row.tls = 1
        if e.ja4 is not None and row.tls_ja4 is None:
            row.tls_ja3, row.tls_ja4 = e.ja3, e.ja4

    def closed(self, r: Record, e: SessionClosed) -> None:
        row = self.session(r)
        row.ended, row.commands, row.messages = r.ts, e.commands, e.messages
        row.bytes_in, row.bytes_out = e.bytes_in, e.bytes_out
        row.close_reason, row.duration, row.shape = e.reason, e.duration, e.shape
        self.deriver.closed(r.session)

    def command(self, r: Record, e: Command) -> None:
        self.rows[COMMAND].append(self.identity(r) + (_t(e.verb), _t(e.argument), e.raw_line, e.reply_code))
        if e.verb in ("VRFY", "EXPN"):
            self.session(r).harvest = 1

    def mail(self, r: Record, e: MailFrom) -> None:
        address = _t(e.address)
        self.rows[ENVELOPE].append(self.identity(r) + ("mail", address, domain_of(address), e.reply_code))

    def rcpt(self, r: Record, e: RcptTo) -> None:
        address = _t(e.address)
        domain = domain_of(address)
        self.rows[ENVELOPE].append(self.identity(r) + ("rcpt", address, domain, e.reply_code))
        if self.deriver.outside(r.session, domain):
            self.session(r).relay = 1

    def message(self, r: Record, e: MessageReceived) -> None:
        relay = any(self.deriver.outside(r.session, domain_of(a)) for a in e.rcpt_to)
        found = self.deriver.probe(r.session, e.subject, e.excerpt) if relay else None
        if found:
            self.session(r).probe = 1
        subject = _t(e.subject)
        self.rows[MESSAGE].append(self.identity(r) + (
            e.sha256, e.size, e.path, e.transfer, _t(e.mail_from), _json(e.rcpt_to),
            subject, _t(e.header_from), _t(e.header_to), _t(e.date), _t(e.message_id),
            _json(e.attachments), _json(e.urls), _t(e.excerpt),
            None if subject is None else subject_template(subject), int(relay),
            found[0] if found else None, found[1] if found else None, e.body_sha256,
        ))
        for n, url in enumerate(e.urls):
            self.rows[URL].append((r.session, r.seq, n, r.ts, r.sensor, _t(url), _t(url_host(url))))
        for n, a in enumerate(e.attachments):
            self.rows[ATTACHMENT].append((r.session, r.seq, n, r.ts, r.sensor, _t(a.get("filename")),
                                          _t(a.get("content_type", "")), a.get("size", 0), a.get("sha256", "")))

    def auth(self, r: Record, e: Auth) -> None:
        self.rows[CREDENTIAL].append(self.identity(r) + (
            _t(e.mechanism), int(e.advertised), e.outcome, _t(e.username), _t(e.password), _t(e.authzid),
            _t(e.response)))
        self.session(r).auth = 1

    def violation(self, r: Record, e: Violation) -> None:
        self.rows[VIOLATION].append(self.identity(r) + (e.violation, _t(e.detail)))

    def fragment(self, r: Record, e: Fragment) -> None:
        self.rows[FRAGMENT].append(self.identity(r) + (e.what, e.reason, e.size, e.received, e.sha256, e.path,
                                                       e.received_sha256, _t(e.mail_from), _json(list(e.rcpt_to))))

    def attack(self, r: Record, e: Attack) -> None:
        self.rows[ATTACK].append(self.identity(r) + (e.attack, e.attack_class, ",".join(e.cves), e.place,
                                                     _t(e.excerpt), _t(_json([dict(i) for i in e.indicators]))))

    def delivery(self, r: Record, e: ProbeDelivery) -> None:
        self.rows[DELIVERY].append(self.identity(r) + (e.for_session, e.sha256, _json(list(e.recipients)), e.outcome,
                                                       _t(e.reason), e.relay, _t(e.reply)))

    # enrichment: facts about a source, not about one session ------------------------------

    def keep(self, statement: Insert, key: tuple, row: tuple, verdict: int | None = None) -> None:
        """The newest row per key, except that one without a verdict never hides one with."""
        rows = self.keyed[statement]
        if verdict is None and key in rows and rows[key][len(key)] is not None:
            return
        rows[key] = row

    def geo(self, r: Record, e: GeoFound) -> None:
        self.keep(SOURCE_GEO, (r.src_ip,), (r.src_ip, e.country, e.country_source, _t(e.city), _t(e.region),
                                             e.latitude, e.longitude, e.asn, _t(e.organisation), e.network, r.ts))

    def rdns(self, r: Record, e: ReverseDns) -> None:
        if e.error is None:
            self.keep(SOURCE_RDNS, (r.src_ip,), (r.src_ip, _t(e.ptr), _flag(e.confirmed), e.generic, r.ts))

    def os(self, r: Record, e: OsFingerprint) -> None:
        if e.os is not None:
            self.keep(SOURCE_OS, (r.src_ip,), (r.src_ip, _t(e.os), _t(e.flavor), e.match_quality, e.distance, r.ts))

    def dnsbl(self, r: Record, e: DnsblResult) -> None:
        listed = _flag(e.listed)
        self.keep(DNSBL, (r.src_ip, e.zone), (r.src_ip, e.zone, listed, _json(list(e.codes)), _json(list(e.meaning)),
                                              _t(e.error), r.ts), listed)

    def helo_dns(self, r: Record, e: HeloDns) -> None:
        resolves = _flag(e.resolves)
        self.keep(HELO_NAME, (_t(e.name), r.src_ip), (_t(e.name), r.src_ip, resolves, _flag(e.matches_peer),
                                                      _json(list(e.addresses)), _t(e.error), r.ts), resolves)


HANDLERS: dict[type, Callable[[RowBuilder, Record, Any], None]] = {
    SessionOpened: RowBuilder.opened,
    Helo: RowBuilder.helo,
    Tls: RowBuilder.tls,
    SessionClosed: RowBuilder.closed,
    Command: RowBuilder.command,
    MailFrom: RowBuilder.mail,
    RcptTo: RowBuilder.rcpt,
    MessageReceived: RowBuilder.message,
    Auth: RowBuilder.auth,
    Violation: RowBuilder.violation,
    Attack: RowBuilder.attack,
    Fragment: RowBuilder.fragment,
    ProbeDelivery: RowBuilder.delivery,
    GeoFound: RowBuilder.geo,
    ReverseDns: RowBuilder.rdns,
    OsFingerprint: RowBuilder.os,
    DnsblResult: RowBuilder.dnsbl,
    HeloDns: RowBuilder.helo_dns,
}


def build_rows(records: Any, deriver: Deriver) -> dict[Insert, list[tuple]]:
    """The rows of every table that `records` become, derived facts included."""
    builder = RowBuilder(deriver)
    for r in records:
        builder.add(r)
    return builder.finish()
