"""Records to an hpfeeds broker, the Honeynet Project's feed network (`[outputs] hpfeeds`).

Each finished session is published as one JSON summary on `hpfeeds_channel` (relaypot.sessions
by default, after the community's <honeypot>.sessions channels: kippo.sessions,
cowrie.sessions), and, when `hpfeeds_events_channel` is set, every record as its JSON line. The
wire protocol is the `hpfeeds` package's (hpfeeds.protocol); this module owns only the socket.

A broker that is away or slow must never hold a session back: `write` only puts payloads on a
bounded queue and returns; a thread of its own connects, authenticates and publishes, and
reconnects with exponential backoff. When the queue is full the newest payload is dropped and
counted (events.jsonl and the store still have every record).
"""

from __future__ import annotations

import collections
import logging
import random
import select
import socket
import threading
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import orjson

from relaypot.errors import SinkError
from relaypot.escape import log_error, terminal
from relaypot.events import Record
from relaypot.sinks.base import Policy

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
AUTH_WAIT = 0.5  # seconds to listen for a refusal after logging in
OPEN_SESSIONS = 10_000  # sessions being summarised at once; past it the oldest is published as it stands
LIST_CAP = 100  # entries kept per list in a summary (recipients, commands, ...)


def parse_target(target: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:10000` for IPv6) → (host, port); ValueError otherwise."""
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{target!r}: write HOST:PORT, such as broker.example.org:10000")
    return host, int(port)


class SessionSummaries:
    """Folds a session's records into one summary, published when the session closes."""

    def __init__(self, limit: int = OPEN_SESSIONS) -> None:
        self.open: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.limit = limit

    def add(self, record: Record) -> list[dict[str, Any]]:
        """The summaries this record finishes (its session's, or the oldest one evicted)."""
        kind = record.kind
        if kind.startswith(("enrich.", "deliver.")):
            return []
        data = record.to_dict()
        finished = []
        summary = self.open.get(record.session)
        if summary is None:
            summary = {"session": record.session, "sensor": record.sensor, "src_ip": record.src_ip,
                       "start": record.ts, "helo": [], "commands": [], "mail_from": [], "rcpt_to": [],
                       "auth": [], "messages": [], "tls": None, "violations": [], "attacks": [], "fragments": []}
            self.open[record.session] = summary
            if len(self.open) > self.limit:
                _, oldest = self.open.popitem(last=False)
                finished.append(oldest)

        def keep(key: str, value: Any) -> None:
            if len(summary[key]) < LIST_CAP:
                summary[key].append(value)

        if kind == "session.opened":
            for key in ("src_port", "dst_ip", "dst_port", "persona", "hostname"):
                summary[key] = data.get(key)
        elif kind == "smtp.helo":
            keep("helo", data.get("hostname"))
        elif kind == "smtp.command":
            keep("commands", data.get("verb"))
        elif kind == "smtp.mail_from":
            keep("mail_from", data.get("address"))
        elif kind == "smtp.rcpt_to":
            keep("rcpt_to", data.get("address"))
        elif kind == "smtp.auth":
            keep("auth", {key: data.get(key) for key in ("mechanism", "outcome", "username", "password")})
        elif kind == "smtp.message":
            keep("messages", {key: data.get(key) for key in ("sha256", "size", "subject", "urls")})
        elif kind == "smtp.tls":
            summary["tls"] = {key: data.get(key) for key in ("outcome", "version", "cipher")}
        elif kind == "smtp.violation":
            keep("violations", data.get("violation"))
        elif kind == "smtp.attack":
            keep("attacks", {key: data.get(key) for key in ("attack", "attack_class", "cves")})
        elif kind == "smtp.fragment":
            keep("fragments", {key: data.get(key) for key in ("what", "reason", "size", "received", "sha256")})
        elif kind == "session.closed":
            summary.update(end=record.ts, reason=data.get("reason"), duration=data.get("duration"),
                           shape=data.get("shape"))
            finished.append(self.open.pop(record.session))
        return finished


class HpfeedsSink:
    policy: Policy = "output"

    def __init__(self, target: str, ident: str, secret: str, channel: str = "relaypot.sessions",
                 events_channel: str = "", max_queue: int = 10_000) -> None:
        self.name = "hpfeeds"
        self.host, self.port = parse_target(target)
        self.ident, self.secret = ident, secret
        self.channel, self.events_channel = channel, events_channel
        self.max_queue = max_queue
        self.queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self.ready = threading.Condition()
        self.summaries = SessionSummaries()
        self.published = 0
        self.dropped = 0  # payloads the full queue turned away
        self.refused = 0  # errors the broker sent back (a channel this identity may not publish to)
        self.stopping = False
        self._sock: socket.socket | None = None
        self._frames: FrameReader | None = None
        self._thread: threading.Thread | None = None

    def rehearse(self, records: Sequence[Record]) -> None:
        """Load the hpfeeds package and build these records' payloads, before root is dropped."""
        protocol = _protocol()
        summaries = SessionSummaries()
        for record in records:
            protocol.msgpublish(self.ident, self.channel, record.to_json())
            for summary in summaries.add(record):
                protocol.msgpublish(self.ident, self.channel, orjson.dumps(summary))
        protocol.msgauth(b"nonce", self.ident, self.secret)

    def open(self) -> None:
        _protocol()
        self._thread = threading.Thread(target=self._publish_forever, name="hpfeeds", daemon=True)
        self._thread.start()

    def write(self, records: Sequence[Record]) -> None:
        payloads = []
        for record in records:
            if self.events_channel:
                payloads.append((self.events_channel, record.to_json()))
            for summary in self.summaries.add(record):
                payloads.append((self.channel, orjson.dumps(summary)))
        if not payloads:
            return
        with self.ready:
            for payload in payloads:
                if len(self.queue) >= self.max_queue:
                    self.dropped += 1
                else:
                    self.queue.append(payload)
            self.ready.notify()

    def close(self, grace: float = 5.0) -> None:
        """Publish what is queued for up to `grace` seconds, then stop."""
        deadline = time.monotonic() + grace
        while self.queue and self._sock is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.ready:
            self.stopping = True
            self.ready.notify()
        if self._thread is not None:
            self._thread.join(timeout=grace)
        self._disconnect()
        if self.queue or self.dropped:
            log.warning("hpfeeds: %d payloads published, %d left unpublished at exit, %d dropped on a full queue",
                        self.published, len(self.queue), self.dropped)

    # -- the publishing thread --------------------------------------------------------------------
    #
    # The broker is hostile input like any client: every frame it sends is read within bounds (a
    # length between 5 and MAX_FRAME, an opcode a broker sends, a body its opcode can hold), every
    # read has a deadline, and whatever goes wrong ends the connection, never the thread: the
    # publisher reconnects with backoff for as long as the sensor runs.

    def _publish_forever(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            with self.ready:
                while not self.queue and not self.stopping:
                    self.ready.wait()
                if self.stopping:
                    return
            try:
                published = self._publish_once()
            except Exception as exc:  # noqa: BLE001 (the broker's bytes must never end the publisher)
                self._disconnect()
                log.warning("hpfeeds broker %s:%d: %s; reconnecting in %.0f s, %d payloads queued", self.host,
                            self.port, log_error(exc), backoff, len(self.queue))
                published = False
            if published:
                backoff = BACKOFF_FIRST
                continue
            with self.ready:  # wait out the backoff, unless told to stop
                self.ready.wait_for(lambda: self.stopping, timeout=backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _publish_once(self) -> bool:
        """Connect if need be and publish what is queued; False when the broker could not be reached."""
        msgpublish = _protocol().msgpublish
        sock = self._sock or self._connect()
        with self.ready:
            batch = list(self.queue)
        sock.sendall(b"".join(msgpublish(self.ident, channel, payload) for channel, payload in batch))
        with self.ready:
            for _ in batch:
                self.queue.popleft()
        self.published += len(batch)
        self._read_errors()
        return True

    def _connect(self) -> socket.socket:
        msgauth = _protocol().msgauth
        sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT)
        try:
            frames = FrameReader(sock)
            opcode, body = frames.read(time.monotonic() + CONNECT_TIMEOUT)
            if opcode != OP_INFO:
                raise ProtocolError(f"the broker greeted with opcode {opcode}, not INFO")
            nonce = info_nonce(body)
            sock.sendall(msgauth(nonce, self.ident, self.secret))
            # A broker says nothing to a good login and an error, then goodbye, to a bad one.
            if select.select([sock], [], [], AUTH_WAIT)[0]:
                said = frames.errors_waiting()
                if said is None or said:
                    self.refused += 1
                    raise ProtocolError(f"identity {self.ident!r} refused: {'; '.join(said or ['connection closed'])}")
            sock.settimeout(30)
        except BaseException:
            sock.close()
            raise
        self._sock, self._frames = sock, frames
        return sock

    def _read_errors(self) -> None:
        """What the broker said back without being asked: errors (a refused identity or channel)."""
        said = self._frames.errors_waiting() if self._frames is not None else []
        if said is None:
            self._disconnect()
            raise ProtocolError(f"the broker closed the connection (identity {self.ident!r} refused?)")
        for text in said:
            self.refused += 1
            log.warning("hpfeeds broker %s:%d: %s", self.host, self.port, text)

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._frames = None


def _protocol() -> ModuleType:
    try:
        from hpfeeds import protocol  # noqa: PLC0415 (the optional extra, checked at start)
    except ImportError:
        raise SinkError("[outputs] hpfeeds needs the hpfeeds package: "
                        "pip install '.[hpfeeds]' in relaypot's checkout") from None
    return protocol


class ProtocolError(Exception):
    """The broker sent what no broker sends."""


class BrokerClosed(ProtocolError):
    """The broker closed the connection between frames."""


OP_ERROR, OP_INFO = 0, 1  # the opcodes a broker sends a publisher (hpfeeds.protocol)
MAX_FRAME = 64 * 1024  # an INFO is under 300 bytes, an ERROR a line of text
CONNECT_TIMEOUT = 10.0


def info_nonce(body: bytes) -> bytes:
    """The nonce of an INFO frame (a one-byte-length broker name, then the nonce)."""
    if not body or len(body) < 1 + body[0] + 4:
        raise ProtocolError(f"the broker's INFO is {len(body)} bytes, too short for a name and a nonce")
    return body[1 + body[0]:]


class FrameReader:
    """hpfeeds frames off a socket, each checked before its body is read: a 4-byte length that
    counts the 5-byte header, then an opcode."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self, size: int, deadline: float) -> bool:
        while len(self.buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError("the broker took too long to finish a frame")
            self.sock.settimeout(left)
            chunk = self.sock.recv(min(65536, MAX_FRAME + 5))
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def read(self, deadline: float) -> tuple[int, bytes]:
        if not self._fill(5, deadline):
            if self.buffer:
                raise ProtocolError("the broker closed the connection in the middle of a frame")
            raise BrokerClosed("the broker closed the connection")
        length, opcode = int.from_bytes(self.buffer[:4], "big"), self.buffer[4]
        if not 5 <= length <= MAX_FRAME:
            raise ProtocolError(f"the broker sent a frame of length {length}")
        if opcode not in (OP_ERROR, OP_INFO):
            raise ProtocolError(f"the broker sent opcode {opcode}")
        if not self._fill(length, deadline):
            raise ProtocolError("the broker closed the connection in the middle of a frame")
        body, self.buffer = self.buffer[5:length], self.buffer[length:]
        return opcode, body

    def errors_waiting(self) -> list[str] | None:
        """The ERROR texts the broker has sent so far, read without waiting; None when it closed."""
        said = []
        while select.select([self.sock], [], [], 0)[0] or len(self.buffer) >= 5:
            try:
                opcode, body = self.read(time.monotonic() + AUTH_WAIT)
            except BrokerClosed:
                return None
            if opcode != OP_ERROR:
                raise ProtocolError(f"the broker sent opcode {opcode} unasked")
            said.append(terminal(body.decode("utf-8", "replace"), 300))
        return said
