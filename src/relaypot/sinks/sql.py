"""Records into the SQL store: the raw events plus typed tables, one transaction per batch."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import orjson

from relaypot.analysis import classify
from relaypot.analysis.classify import subject_template
from relaypot.analysis.derive import Deriver
from relaypot.events import (
    Auth, Command, DnsblResult, GeoFound, Helo, HeloDns, MailFrom, MessageReceived, OsFingerprint, RcptTo, Record,
    ReverseDns, SessionClosed, SessionOpened, Tls, Violation, json_safe,
)
from relaypot.protocol.commands import domain_of
from relaypot.storage.database import Database, Insert, preload_driver, schema_text, storable_text

EVENT = Insert("events", ("session_id", "seq", "ts", "sensor", "src_ip", "kind", "payload"))
SESSION_COLUMNS = ("session_id", "sensor", "src_ip", "src_port", "dst_ip", "dst_port", "listener", "persona",
                   "hostname", "started", "hour", "ended", "helo_verb", "helo", "tls", "commands", "messages", "bytes_in",
                   "bytes_out", "close_reason", "duration", "shape", "helo_class", "helo_syntax", "helo_peer",
                   "relay", "probe", "auth", "harvest")
_COL = {name: i for i, name in enumerate(SESSION_COLUMNS)}
_FLAGS = ("tls", "relay", "probe", "auth", "harvest")
_FIRST = ("src_port", "dst_ip", "dst_port", "listener", "persona", "hostname")
_START = ("started", "hour")
_HELO = ("helo_verb", "helo", "helo_class", "helo_syntax", "helo_peer")
_LAST = ("ended", "commands", "messages", "bytes_in", "bytes_out", "close_reason", "duration", "shape")
# A session's records may span batches: what a later batch knows fills in, never erases. The
# earliest start wins (a spool replay or an import can bring a session's first records after its
# later ones), and so does the first HELO/EHLO (a batch is a run of a session's records, so one
# that starts earlier than the row holds earlier records); a flag, once set, stays. The HELO
# columns move as one group, decided by helo_verb: helo_peer is NULL for a name, so COALESCE alone
# would let a later EHLO's verdict in. Portable to PostgreSQL as written.
SESSION = Insert("sessions", SESSION_COLUMNS, "ON CONFLICT (session_id) DO UPDATE SET " + ", ".join(
    [f"{c} = COALESCE(sessions.{c}, excluded.{c})" for c in _FIRST]
    + [f"{c} = CASE WHEN excluded.started < sessions.started THEN excluded.{c} ELSE sessions.{c} END" for c in _START]
    + [f"{c} = CASE WHEN sessions.helo_verb IS NULL OR (excluded.helo_verb IS NOT NULL AND excluded.started < "
       f"sessions.started) THEN excluded.{c} ELSE sessions.{c} END" for c in _HELO]
    + [f"{c} = COALESCE(excluded.{c}, sessions.{c})" for c in _LAST]
    + [f"{c} = CASE WHEN excluded.{c} = 1 THEN 1 ELSE sessions.{c} END" for c in _FLAGS]
))
_IDENTITY = ("session_id", "seq", "ts", "sensor", "src_ip")
COMMAND = Insert("commands", _IDENTITY + ("verb", "argument", "raw_line", "reply_code"))
ENVELOPE = Insert("envelopes", _IDENTITY + ("kind", "address", "domain", "reply_code"))
MESSAGE = Insert("messages", _IDENTITY + (
    "sha256", "size", "path", "transfer", "mail_from", "rcpt_to", "subject", "header_from", "header_to",
    "header_date", "message_id", "attachments", "urls", "excerpt", "subject_template", "relay", "probe_family",
    "probe_signature", "body_sha256"))
URL = Insert("urls", ("session_id", "seq", "n", "ts", "sensor", "url", "host"))
ATTACHMENT = Insert("attachments", ("session_id", "seq", "n", "ts", "sensor", "filename", "content_type", "size",
                                    "sha256"))
CREDENTIAL = Insert("credentials", _IDENTITY + (
    "mechanism", "advertised", "outcome", "username", "password", "authzid", "response"))
VIOLATION = Insert("violations", _IDENTITY + ("violation", "detail"))


def _replace(table: str, key: str, columns: tuple[str, ...]) -> Insert:
    """An upsert that replaces `columns` of the row keyed `key` with the newest answer."""
    return Insert(table, (key,) + columns, f"ON CONFLICT ({key}) DO UPDATE SET "
                  + ", ".join(f"{c} = excluded.{c}" for c in columns))


def _verdict(table: str, key: tuple[str, ...], verdict: str, columns: tuple[str, ...]) -> Insert:
    """An upsert where an answer without a verdict (`verdict` NULL) keeps the stored verdict and its
    details, and only notes its error."""
    keep = ", ".join(f"{c} = CASE WHEN excluded.{verdict} IS NULL THEN {table}.{c} ELSE excluded.{c} END"
                     for c in (verdict, *columns, "checked"))
    return Insert(table, key + (verdict, *columns, "error", "checked"),
                  f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {keep}, error = excluded.error")


SOURCE_GEO = _replace("sources", "src_ip", ("country", "country_source", "city", "region", "latitude", "longitude",
                                            "asn", "organisation", "network", "geo_checked"))
SOURCE_RDNS = _replace("sources", "src_ip", ("ptr", "ptr_confirmed", "ptr_generic", "rdns_checked"))
SOURCE_OS = _replace("sources", "src_ip", ("os", "os_flavor", "os_quality", "os_distance", "os_checked"))
DNSBL = _verdict("dnsbl", ("src_ip", "zone"), "listed", ("codes", "meaning"))
HELO_NAME = _verdict("helo_names", ("name", "src_ip"), "resolves", ("matches_peer", "addresses"))
ORDER = (EVENT, SESSION, COMMAND, ENVELOPE, MESSAGE, URL, ATTACHMENT, CREDENTIAL, VIOLATION, SOURCE_GEO, SOURCE_RDNS,
         SOURCE_OS, DNSBL, HELO_NAME)
# Tables keyed by something other than (session_id, seq): one row per key per batch, because
# PostgreSQL refuses an INSERT ... ON CONFLICT DO UPDATE that touches a row twice.
_KEYED = (SOURCE_GEO, SOURCE_RDNS, SOURCE_OS, DNSBL, HELO_NAME)


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _t(value: str | None) -> str | None:
    """Attacker text as the store will hold it (`storable_text`), for the values the sink also
    derives from or keys by, so a derived column and a join key see what the table holds."""
    if value is None:
        return None
    return value if value.isascii() and "\x00" not in value else storable_text(value)


def _json(value: Any) -> str:
    return orjson.dumps(json_safe(value)).decode("utf-8")


def url_host(url: str) -> str:
    """`http://user@Evil.Example:8080/x` → `evil.example`."""
    rest = url.split("//", 1)[-1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return _t(host.split(":", 1)[0].lower())


class _Batch:
    """The rows one batch of records becomes."""

    def __init__(self, deriver: Deriver) -> None:
        self.deriver = deriver
        self.rows: dict[Insert, list[tuple]] = {statement: [] for statement in ORDER}
        self.sessions: dict[str, list] = {}
        self.keyed: dict[Insert, dict[tuple, tuple]] = {statement: {} for statement in _KEYED}

    def session(self, r: Record) -> list:
        row = self.sessions.get(r.session)
        if row is None:
            row = self.sessions[r.session] = [None] * len(SESSION_COLUMNS)
            row[0], row[1], row[2], row[_COL["started"]], row[_COL["hour"]] = r.session, r.sensor, r.src_ip, r.ts, r.ts[:13]
            for flag in _FLAGS:
                row[_COL[flag]] = 0
        return row

    def add(self, r: Record) -> None:
        self.rows[EVENT].append((r.session, r.seq, r.ts, r.sensor, r.src_ip, r.kind, r.to_json().decode("utf-8")))
        handler = HANDLERS.get(type(r.event))
        if handler is not None:
            handler(self, r, r.event)

    def identity(self, r: Record) -> tuple:
        return (r.session, r.seq, r.ts, r.sensor, r.src_ip)

    # one method per event kind -------------------------------------------------------------

    def opened(self, r: Record, e: SessionOpened) -> None:
        self.deriver.opened(r.session, e.hostname, e.dst_ip)
        self.session(r)[3:11] = [e.src_port, e.dst_ip, e.dst_port, e.listener, e.persona, e.hostname, r.ts, r.ts[:13]]

    def helo(self, r: Record, e: Helo) -> None:
        row = self.session(r)
        if row[_COL["helo_verb"]] is None:
            row[_COL["helo_verb"]], row[_COL["helo"]] = e.verb, _t(e.hostname)
            row[_COL["helo_class"]], row[_COL["helo_syntax"]], row[_COL["helo_peer"]] = self.deriver.helo(
                r.session, e.hostname, r.src_ip)

    def tls(self, r: Record, e: Tls) -> None:
        if e.outcome == "established":
            self.session(r)[_COL["tls"]] = 1

    def closed(self, r: Record, e: SessionClosed) -> None:
        row = self.session(r)
        row[_COL["ended"]] = r.ts
        row[_COL["commands"]:_COL["shape"] + 1] = [e.commands, e.messages, e.bytes_in, e.bytes_out, e.reason, e.duration,
                                                   e.shape]
        self.deriver.closed(r.session)

    def command(self, r: Record, e: Command) -> None:
        self.rows[COMMAND].append(self.identity(r) + (_t(e.verb), _t(e.argument), e.raw_line, e.reply_code))
        if e.verb in ("VRFY", "EXPN"):
            self.session(r)[_COL["harvest"]] = 1

    def mail(self, r: Record, e: MailFrom) -> None:
        address = _t(e.address)
        self.rows[ENVELOPE].append(self.identity(r) + ("mail", address, domain_of(address), e.reply_code))

    def rcpt(self, r: Record, e: RcptTo) -> None:
        address = _t(e.address)
        domain = domain_of(address)
        self.rows[ENVELOPE].append(self.identity(r) + ("rcpt", address, domain, e.reply_code))
        if self.deriver.outside(r.session, domain):
            self.session(r)[_COL["relay"]] = 1

    def message(self, r: Record, e: MessageReceived) -> None:
        relay = any(self.deriver.outside(r.session, domain_of(a)) for a in e.rcpt_to)
        found = self.deriver.probe(r.session, e.subject, e.excerpt) if relay else None
        if found:
            self.session(r)[_COL["probe"]] = 1
        self.rows[MESSAGE].append(self.identity(r) + (
            e.sha256, e.size, e.path, e.transfer, _t(e.mail_from), _json(e.rcpt_to),
            _t(e.subject), _t(e.header_from), _t(e.header_to), _t(e.date), _t(e.message_id),
            _json(e.attachments), _json(e.urls), _t(e.excerpt),
            None if e.subject is None else subject_template(_t(e.subject)), int(relay),
            found[0] if found else None, found[1] if found else None, e.body_sha256,
        ))
        for n, url in enumerate(e.urls):
            self.rows[URL].append((r.session, r.seq, n, r.ts, r.sensor, _t(url), url_host(url)))
        for n, a in enumerate(e.attachments):
            self.rows[ATTACHMENT].append((r.session, r.seq, n, r.ts, r.sensor, _t(a.get("filename")),
                                          _t(a.get("content_type", "")), a.get("size", 0), a.get("sha256", "")))

    def auth(self, r: Record, e: Auth) -> None:
        self.rows[CREDENTIAL].append(self.identity(r) + (
            _t(e.mechanism), int(e.advertised), e.outcome, _t(e.username), _t(e.password), _t(e.authzid), _t(e.response)))
        self.session(r)[_COL["auth"]] = 1

    def violation(self, r: Record, e: Violation) -> None:
        self.rows[VIOLATION].append(self.identity(r) + (e.violation, _t(e.detail)))

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


HANDLERS: dict[type, Callable[[_Batch, Record, Any], None]] = {
    SessionOpened: _Batch.opened,
    Helo: _Batch.helo,
    Tls: _Batch.tls,
    SessionClosed: _Batch.closed,
    Command: _Batch.command,
    MailFrom: _Batch.mail,
    RcptTo: _Batch.rcpt,
    MessageReceived: _Batch.message,
    Auth: _Batch.auth,
    Violation: _Batch.violation,
    GeoFound: _Batch.geo,
    ReverseDns: _Batch.rdns,
    OsFingerprint: _Batch.os,
    DnsblResult: _Batch.dnsbl,
    HeloDns: _Batch.helo_dns,
}


class SqlSink:
    """SQLite by default (`relaypot.sqlite`, WAL), PostgreSQL by URL, with the same statements."""

    name = "sql"

    def __init__(self, url: str, local_domains: tuple[str, ...] = (), hostname: str = "",
                 public_names: tuple[str, ...] = ()) -> None:
        self.url = url
        self.db: Database | None = None
        self.local_domains = local_domains
        self.hostname = hostname
        self.public_names = public_names
        # Run once the store is first open, before any record is written (the sensor's catch-up
        # with its journal: after a crash the store may lack the journal's last records).
        self.after_first_open: Callable[[SqlSink], object] | None = None
        self.deriver = Deriver(local_domains, hostname, public_names)
        self._failed: tuple[Sequence[Record], dict[Insert, list[tuple]]] | None = None

    def open(self) -> None:
        self.db = Database(self.url)
        self.db.create_schema()
        if self.after_first_open is not None:
            first, self.after_first_open = self.after_first_open, None
            first(self)

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
            with self.db.transaction() as db:
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
        self._rows(records, Deriver(self.local_domains, self.hostname, self.public_names))
        classify.preload()
        schema_text()
        preload_driver(self.url)

    def _rows(self, records: Sequence[Record], deriver: Deriver | None = None) -> dict[Insert, list[tuple]]:
        batch = _Batch(deriver or self.deriver)
        for r in records:
            batch.add(r)
        batch.rows[SESSION] = [tuple(row) for row in batch.sessions.values()]
        for statement, rows in batch.keyed.items():
            batch.rows[statement] = list(rows.values())
        return batch.rows

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
