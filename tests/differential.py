"""The differential oracle's parts: a conversation as steps of bytes, played over a real socket
against any server (the real Postfix of tests/postfix_server.py, or a running persona), and what
was heard, step by step, in a form two servers can be compared on: the bytes of every reply
(queue ids aside), whether it came late (half a second or more after the step was sent) and how
the server ended the connection (FIN or RST).

A step is sent as one or more parts with a short pause between them, so a line split across
parts reaches the server in separate segments. After a step the player reads until a complete
reply has been followed by a quiet moment; a step that gets no reply costs `SILENCE` seconds.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SILENCE = 2.6   # seconds without a first byte after which a step is unanswered (a failed login: 2 s)
QUIET = 0.15    # seconds of quiet after a complete reply before the next step is sent
LATE = 0.5      # a first byte this long after the step was sent is a late reply
PART_PAUSE = 0.03


@dataclass(frozen=True)
class Step:
    parts: tuple[bytes, ...]
    tls: bool = False  # after the parts and their reply: a TLS handshake on the socket (STARTTLS)
    hangup: bool = False  # after its parts (a line cut short, at times) the client shuts its side (a
    #                       FIN) and hears what the server does
    message: bool = False  # a message's bytes (DATA's body, a BDAT chunk): no command lines
    early: bool = False  # sent at once on connecting, before the banner (first step only): its
    #                      reply is the banner and what follows it, heard as one

    @property
    def wire(self) -> bytes:
        return b"".join(self.parts)


@dataclass
class Heard:
    banner: bytes = b""
    replies: list[bytes] = field(default_factory=list)  # one per step played
    waits: list[float | None] = field(default_factory=list)  # seconds to each step's first byte (None: no reply)
    close: str = "open"  # "FIN", "RST" or "open" (still open after the last step)

    @property
    def late(self) -> list[bool]:
        """Per step: its first byte came LATE seconds or more after it was sent."""
        return [wait is not None and wait >= LATE for wait in self.waits]

    def normalized(self, mend: Callable[[bytes], bytes] | None = None) -> Heard:
        even = normalize if mend is None else (lambda data: mend(normalize(data)))
        return Heard(even(self.banner), [even(r) for r in self.replies], self.waits, self.close)


def normalize(data: bytes) -> bytes:
    """Queue ids and CRAM-MD5 challenges (random, and naming the machine Dovecot runs on) differ on
    every run; nothing else may."""
    data = re.sub(rb"queued as [0-9A-F]{8,12}\b", b"queued as QUEUEID", data)
    data = re.sub(rb"id=[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}\r\n", b"id=MESSAGEID\r\n", data)  # Exim's
    data = re.sub(rb"250 2\.0\.0 [0-9a-f]{8} Message accepted", b"250 2.0.0 MSGID Message accepted",
                  data)  # OpenSMTPD's
    data = re.sub(rb"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", b"DATE", data)
    data = re.sub(rb"[A-Z][a-z]{2}, \d\d? [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", b"DATE", data)  # Sendmail's
    data = re.sub(rb"250 2\.0\.0 [0-9A-Za-x]{14} Message accepted", b"250 2.0.0 QUEUEID Message accepted",
                  data)  # Sendmail's
    data = re.sub(rb"^334 bm9uY2U9[A-Za-z0-9+/=]+\r\n", b"334 DIGEST-CHALLENGE\r\n", data, flags=re.M)  # DIGEST-MD5
    return re.sub(rb"^334 PD[A-Za-z0-9+/=]+\r\n", b"334 CHALLENGE\r\n", data, flags=re.M)


def _complete(data: bytes) -> bool:
    """Ends with the last line of a reply ("250 ..." rather than "250-...")."""
    if not data.endswith(b"\r\n"):
        return False
    last = data[:-2].rsplit(b"\r\n", 1)[-1]
    return len(last) >= 4 and last[:3].isdigit() and last[3:4] == b" "


def _collect(sock: socket.socket | ssl.SSLSocket) -> tuple[bytes, float | None, str | None]:
    """What the server says now: the bytes, the time of the first byte, and FIN/RST if it closed."""
    data, first = b"", None
    deadline = time.monotonic() + SILENCE
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, first, None
        except ConnectionResetError:
            return data, first, "RST"
        except ssl.SSLError:
            return data, first, "TLS"
        if not chunk:
            return data, first, "FIN"
        now = time.monotonic()
        first = first if first is not None else now
        data += chunk
        deadline = now + (QUIET if _complete(data) else SILENCE)


def _client_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def play(address: tuple[str, int], steps: list[Step], implicit_tls: bool = False, source: str | None = None) -> Heard:
    """The conversation against the server at `address`, on a fresh connection (in TLS from the
    first byte where `implicit_tls`: port 465) from the address `source` where given."""
    heard = Heard()
    sock: socket.socket | ssl.SSLSocket = socket.create_connection(
        address, timeout=10, source_address=(source, 0) if source else None)
    if implicit_tls:
        sock = _client_tls().wrap_socket(sock)
    try:
        if not (steps and steps[0].early):
            heard.banner, _, closed = _collect(sock)
            if closed:
                heard.close = closed
                return heard
        for step in steps:
            sent = time.monotonic()
            try:
                for n, part in enumerate(step.parts):
                    if n:
                        time.sleep(PART_PAUSE)
                    sock.sendall(part)
                    sent = time.monotonic()
                if step.hangup:  # a FIN, under TLS too (no close_notify: SSLSocket.shutdown would drop TLS)
                    socket.socket.shutdown(sock, socket.SHUT_WR)
                    sent = time.monotonic()
            except (BrokenPipeError, ConnectionResetError):
                heard.replies.append(b"")
                heard.waits.append(None)
                heard.close = "RST"
                return heard
            data, first, closed = _collect(sock)
            heard.replies.append(data)
            heard.waits.append(None if first is None else first - sent)
            if closed:
                heard.close = closed
                return heard
            if step.tls and data.startswith(b"220"):
                try:
                    sock = _client_tls().wrap_socket(sock)
                except (ssl.SSLError, OSError) as exc:  # a server whose handshake fails (OpenSMTPD on OpenSSL 3)
                    heard.close = f"TLS failed: {getattr(exc, 'reason', None) or exc.__class__.__name__}"
                    return heard
        return heard
    finally:
        sock.close()


def describe(steps: list[Step]) -> str:
    """The conversation as a reader (and a bug report) wants it: one step a line, parts split by |."""
    def line(step: Step) -> str:
        said = " | ".join(repr(part)[2:-1] for part in step.parts)
        return (("[before the banner] " if step.early else "") + said + ("  [TLS]" if step.tls else "")
                + (" [hang-up]" if step.hangup else "")).strip()

    return "\n".join(line(step) for step in steps)
