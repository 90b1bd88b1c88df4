"""Typed events, their registry, the Record that stamps identity on them, and the JSON codec.

Event kinds are a published contract: `docs/events.md` documents every class in
EVENT_TYPES and a test keeps the two equal. Renaming a kind is a breaking change.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from relaypot.escape import clean_text, escape_invisible

EVENT_TYPES: dict[str, type[Event]] = {}


def _register(cls: type[Event]) -> type[Event]:
    if cls.kind in EVENT_TYPES:
        raise RuntimeError(f"event kind {cls.kind} registered twice")
    EVENT_TYPES[cls.kind] = cls
    return cls


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in a session; identity (session, time, source) is added by the Recorder."""

    kind: ClassVar[str] = ""


@_register
@dataclass(frozen=True, slots=True)
class SessionOpened(Event):
    kind: ClassVar[str] = "session.opened"
    src_port: int
    dst_ip: str
    dst_port: int
    listener: str
    persona: str
    hostname: str
    banner: str


@_register
@dataclass(frozen=True, slots=True)
class SessionClosed(Event):
    kind: ClassVar[str] = "session.closed"
    reason: str
    duration: float
    bytes_in: int
    bytes_out: int
    commands: int
    messages: int
    shape: str = ""


@_register
@dataclass(frozen=True, slots=True)
class Command(Event):
    kind: ClassVar[str] = "smtp.command"
    verb: str
    argument: str
    raw_line: bytes
    reply_code: int
    reply: str


@_register
@dataclass(frozen=True, slots=True)
class Helo(Event):
    kind: ClassVar[str] = "smtp.helo"
    verb: str
    hostname: str


@_register
@dataclass(frozen=True, slots=True)
class MailFrom(Event):
    kind: ClassVar[str] = "smtp.mail_from"
    address: str
    parameters: dict[str, str]
    reply_code: int


@_register
@dataclass(frozen=True, slots=True)
class RcptTo(Event):
    kind: ClassVar[str] = "smtp.rcpt_to"
    address: str
    parameters: dict[str, str]
    reply_code: int


@_register
@dataclass(frozen=True, slots=True)
class Auth(Event):
    kind: ClassVar[str] = "smtp.auth"
    mechanism: str
    advertised: bool
    outcome: str
    username: str | None = None
    password: str | None = None
    authzid: str | None = None
    response: str | None = None
    raw_responses: tuple[bytes, ...] = ()
    replies: tuple[str, ...] = ()
    reply_code: int = 0


@_register
@dataclass(frozen=True, slots=True)
class Tls(Event):
    kind: ClassVar[str] = "smtp.tls"
    outcome: str
    version: str | None = None
    cipher: str | None = None
    server_name: str | None = None
    error: str | None = None
    ja3: str | None = None  # the client's JA3 (MD5 of its ClientHello's fields)
    ja4: str | None = None  # the client's JA4 (FoxIO)


@_register
@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    kind: ClassVar[str] = "smtp.message"
    sha256: str
    size: int
    path: str
    transfer: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    subject: str | None = None
    header_from: str | None = None
    header_to: str | None = None
    date: str | None = None
    message_id: str | None = None
    attachments: tuple[dict[str, Any], ...] = ()
    urls: tuple[str, ...] = ()
    excerpt: str = ""
    body_sha256: str | None = None
    reply_code: int = 0
    reply: str = ""


@_register
@dataclass(frozen=True, slots=True)
class Violation(Event):
    kind: ClassVar[str] = "smtp.violation"
    violation: str
    detail: str = ""


@_register
@dataclass(frozen=True, slots=True)
class Fragment(Event):
    kind: ClassVar[str] = "smtp.fragment"
    what: str  # message (unfinished) | oversize | xexch50 | line | unread
    reason: str
    size: int  # bytes kept and stored
    received: int  # bytes received of it
    sha256: str  # of the bytes kept
    path: str | None  # where they are stored; None when the store refused them
    received_sha256: str | None = None
    mail_from: str | None = None
    rcpt_to: tuple[str, ...] = ()
    refused: str | None = None  # why the store did not keep them


@_register
@dataclass(frozen=True, slots=True)
class Attack(Event):
    kind: ClassVar[str] = "smtp.attack"
    attack: str  # the catalogue entry's id
    attack_class: str
    cves: tuple[str, ...] = ()
    place: str = ""  # where it matched: helo, mail, rcpt, header, violation, ...
    excerpt: str = ""
    indicators: tuple[dict[str, str], ...] = ()  # an exploit's {kind, value}: URLs, hosts, addresses, commands


@_register
@dataclass(frozen=True, slots=True)
class GeoFound(Event):
    kind: ClassVar[str] = "enrich.geo"
    for_session: str
    country: str | None = None
    country_source: str | None = None
    city: str | None = None
    region: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    asn: int | None = None
    organisation: str | None = None
    network: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class ReverseDns(Event):
    kind: ClassVar[str] = "enrich.rdns"
    for_session: str
    ptr: str | None = None
    confirmed: bool | None = None
    generic: str | None = None
    error: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class DnsblResult(Event):
    kind: ClassVar[str] = "enrich.dnsbl"
    for_session: str
    zone: str
    listed: bool | None
    codes: tuple[str, ...] = ()
    meaning: tuple[str, ...] = ()
    error: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class HeloDns(Event):
    kind: ClassVar[str] = "enrich.helo"
    for_session: str
    name: str
    resolves: bool | None
    addresses: tuple[str, ...] = ()
    matches_peer: bool | None = None
    error: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class OsFingerprint(Event):
    kind: ClassVar[str] = "enrich.os"
    for_session: str
    os: str | None = None
    flavor: str | None = None
    match_quality: int | None = None
    distance: int | None = None
    link: str | None = None
    error: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class ProbeDelivery(Event):
    """A relay probe [deception] delivered, or would have and did not: the scanner's check then
    succeeds, and it may come back with what the probe was for."""

    kind: ClassVar[str] = "deliver.probe"
    for_session: str  # the session that sent the probe
    sha256: str  # the stored message
    recipients: tuple[str, ...]
    outcome: str  # delivered | refused (a limit said no; nothing was sent) | failed (tried, not taken)
    reason: str = ""  # the limit, or what went wrong
    relay: str | None = None  # the host:port it went to
    reply: str | None = None  # the far side's last reply


VIOLATIONS = {
    "line_too_long": "a command line longer than the bound (RFC 5321 §4.5.3.1)",
    "bare_lf": "a line ended by LF without CR",
    "smuggling": "a \".\" line between line endings other than CRLF, or with a NUL beside the dot, in a message "
                 "body or ending it (<LF>.<LF>, <LF>.<CR><LF>, <CR>.<CR><LF>, <CR><LF>.<CR>, <CR><LF><NUL>.<CR><LF>, "
                 "...: every end-of-data variant the public smuggling scanners send)",
    "pipelined_transaction": "a MAIL command sent in the same read as the end of a message, before its reply (the "
                             "second transaction of a smuggling or pipelining probe)",
    "bad_sequence": "a command out of order (RCPT before MAIL, DATA before RCPT, ...)",
    "pipelining": "input sent ahead of a reply the persona's server makes a client wait for (OpenSMTPD's "
                  "pipelining refusal, Exim's synchronization error, Sendmail's transaction stuffing check)",
    "early_talker": "input before the greeting, during the persona's greet pause (Sendmail)",
    "http": "a first line that is an HTTP proxy request (GET, POST, CONNECT: Sendmail's open-proxy refusal)",
    "binary": "a command line with NUL, control bytes or invalid UTF-8",
    "starttls_injection": "bytes pipelined after STARTTLS, before the TLS handshake (CVE-2011-0411 probes)",
    "limit_message_size": "a message larger than the size limit: refused, or, where the persona's server had "
                          "no limit, taken and stored cut at it (the detail says which)",
    "limit_recipients": "more recipients than the persona's server takes in one message (its own limit)",
    "limit_recipients_kept": "recipients past [limits] max_recipients: answered as the server would and recorded "
                             "with their RCPT, but not kept with the message's record",
    "limit_commands": "more commands than the per-session limit",
    "limit_errors": "more unknown or rejected commands than the error budget",
    "limit_connections": "a connection past the overall or per-source concurrency limit",
    "limit_disk": "a message refused because the message store is full",
    "limit_memory": "a message refused because the messages in progress held [limits] max_message_memory",
    "limit_session_time": "a session longer than the total session time limit",
    "xexch50": "an XEXCH50 command (MS03-046 exploit attempts send negative or huge sizes)",
    "limit_fragments": "more than 32 fragments (unfinished messages, over-long lines, unread input) in one session: "
                       "the rest are counted, not kept",
    "reply_too_long": "a reply the persona's server cannot write (Exim: past its 16 KB buffer): the session ended "
                      "as that server ends it",
    "internal_error": "input that made relaypot's session code fail (a bug: the line is answered as unrecognized)",
}


@dataclass(slots=True)
class Record:
    """An event with its identity: which session, which sensor, which source, when, in what order."""

    session: str
    seq: int
    ts: str
    sensor: str
    src_ip: str
    event: Event
    _json: bytes | None = field(default=None, repr=False, compare=False)
    # Set when events.jsonl gave it up (its disk full): a store that then drops it too has lost
    # it for good, and the stop line must not count it as one the journal can bring back.
    unjournaled: bool = field(default=False, repr=False, compare=False)

    @property
    def kind(self) -> str:
        return self.event.kind

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.event.kind,
            "session": self.session,
            "seq": self.seq,
            "ts": self.ts,
            "sensor": self.sensor,
            "src_ip": self.src_ip,
        }
        _add_fields(self.event, data)
        return data

    def to_json(self) -> bytes:
        """One JSON object (UTF-8, no newline); cached, since every sink wants the same bytes.
        Characters a terminal would act on are \\u-escaped: `tail -f events.jsonl` is safe."""
        if self._json is None:
            self._json = escape_invisible(orjson.dumps(self.to_dict()))
        return self._json

_CODEC_PLANS: dict[type, tuple[tuple[str, str, str], ...]] = {}


def _codec_plan(cls: type[Event]) -> tuple[tuple[str, str, str], ...]:
    """(field, JSON key, how to encode it) per field: raw bytes travel as base64 under `<name>_b64`."""
    plan = _CODEC_PLANS.get(cls)
    if plan is None:
        modes = {"bytes": "bytes", "tuple[bytes, ...]": "bytes_tuple"}
        plan = _CODEC_PLANS[cls] = tuple(
            (f.name, f.name + "_b64" if str(f.type) in modes else f.name, modes.get(str(f.type), "plain"))
            for f in dataclasses.fields(cls)
        )
    return plan


def _add_fields(event: Event, out: dict[str, Any]) -> None:
    b64 = base64.b64encode
    for name, key, mode in _codec_plan(type(event)):
        value = getattr(event, name)
        if mode == "plain":
            kind = type(value)
            if kind is str:
                out[key] = value if value.isascii() else clean_text(value)
            elif value is None or kind is int or kind is float or kind is bool:
                out[key] = value
            else:
                out[key] = json_safe(value)
        elif mode == "bytes":
            out[key] = b64(value).decode("ascii")
        else:
            out[key] = [b64(v).decode("ascii") for v in value]


def json_safe(value: Any) -> Any:
    """`value` with every string in it made valid UTF-8, for a JSON encoder that refuses surrogates."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, (tuple, list)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): json_safe(v) for k, v in value.items()}
    return value


def record_from_dict(data: dict[str, Any]) -> Record:
    """Rebuild a Record from `Record.to_dict()` output (a JSON line)."""
    cls = EVENT_TYPES[data["kind"]]
    kwargs: dict[str, Any] = {}
    for name, key, mode in _codec_plan(cls):
        if mode == "bytes" and key in data:
            kwargs[name] = base64.b64decode(data[key])
        elif mode == "bytes_tuple" and key in data:
            kwargs[name] = tuple(base64.b64decode(v) for v in data[key])
        elif name in data:
            value = data[name]
            kwargs[name] = tuple(value) if isinstance(value, list) else value
    return Record(
        session=data["session"],
        seq=data["seq"],
        ts=data["ts"],
        sensor=data["sensor"],
        src_ip=data["src_ip"],
        event=cls(**kwargs),
    )
