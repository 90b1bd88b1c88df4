"""Records to a syslog collector (a SIEM's way in): RFC 5424 messages over UDP (RFC 5426) or TCP
with octet counting (RFC 6587), one per record; the message is the record's JSON line, as in
events.jsonl, and the MSGID its kind (`smtp.message`). rsyslog, syslog-ng and Logstash take both.

A collector that is away must not hold the sensor back: a batch it cannot take is counted as
dropped (events.jsonl and the store still have every record), and the connection is tried again
at the next batch, at most every RETRY seconds.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from relaypot.events import Record
from relaypot.sinks.base import Policy

log = logging.getLogger(__name__)

FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "local0": 16, "local1": 17,
              "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}
INFO, NOTICE = 6, 5
MAX_UDP = 8192  # a datagram larger than this is cut (RFC 5426 asks collectors for 2048 at least)
RETRY = 5.0


def parse_target(url: str) -> tuple[str, str, int]:
    """`udp://127.0.0.1:514`, `tcp://[::1]:6514` → (transport, host, port); ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("udp", "tcp") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{url!r}: write udp://HOST:PORT or tcp://HOST:PORT")
    try:
        port = parts.port or 514
    except ValueError:
        raise ValueError(f"{url!r}: the port is no number") from None
    return parts.scheme, parts.hostname, port


def frame(record: Record, facility: int, hostname: str) -> bytes:
    """One RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG."""
    severity = NOTICE if record.kind in ("smtp.message", "smtp.auth", "deliver.probe") else INFO
    return (f"<{facility * 8 + severity}>1 {record.ts} {hostname} relaypot - {record.kind} - ".encode()
            + record.to_json())


class SyslogSink:
    policy: Policy = "output"

    def __init__(self, url: str, facility: str = "local0", hostname: str = "") -> None:
        self.name = "syslog"
        self.transport, self.host, self.port = parse_target(url)
        self.facility = FACILITIES[facility]
        # RFC 5424 §6.2.4: printable US-ASCII, no spaces, at most 255.
        self.hostname = "".join(c for c in (hostname or socket.gethostname()) if 33 <= ord(c) <= 126)[:255] or "-"
        self.sent = 0
        self.dropped = 0
        self._sock: socket.socket | None = None
        self._next_try = 0.0

    def open(self) -> None:
        """Nothing to hold yet: the first batch connects (a collector may start after the sensor)."""

    def rehearse(self, records: Sequence[Record]) -> None:
        for record in records:
            frame(record, self.facility, self.hostname)
        socket.getaddrinfo("127.0.0.1", self.port, type=socket.SOCK_DGRAM)  # the resolver's modules

    def write(self, records: Sequence[Record]) -> None:
        messages = [frame(r, self.facility, self.hostname) for r in records]
        try:
            sock = self._connected()
            if sock is None:
                self.dropped += len(messages)
                return
            if self.transport == "udp":
                for message in messages:
                    sock.send(message[:MAX_UDP])
            else:
                sock.sendall(b"".join(b"%d %s" % (len(m), m) for m in messages))
            self.sent += len(messages)
        except OSError as exc:
            self.dropped += len(messages)
            self._drop_connection(f"{exc.strerror or exc}")

    def _connected(self) -> socket.socket | None:
        if self._sock is not None:
            return self._sock
        now = time.monotonic()
        if now < self._next_try:
            return None
        try:
            if self.transport == "udp":
                family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0][0]
                sock = socket.socket(family, socket.SOCK_DGRAM)
                sock.connect((self.host, self.port))
            else:
                sock = socket.create_connection((self.host, self.port), timeout=RETRY)
        except OSError as exc:
            self._drop_connection(f"{exc.strerror or exc}")
            return None
        self._sock = sock
        return sock

    def _drop_connection(self, why: str) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._next_try = time.monotonic() + RETRY
        log.warning("syslog collector %s://%s:%d: %s; %d records dropped so far (events.jsonl has them all)",
                    self.transport, self.host, self.port, why, self.dropped)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
