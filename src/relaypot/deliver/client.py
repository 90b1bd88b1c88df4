"""One delivery over SMTP, every byte of the far side bounded: the MX is the attacker's choice.

smtplib keeps every line of a reply (an MX answering EHLO with an endless multi-line reply took
a sensor from 49 to 1,542 MiB) and its timeout bounds each read, not the conversation (an MX
dripping a byte a second holds it for ever). This client reads at most `max_reply_lines` lines
of at most `max_line` bytes per reply, and the whole conversation ends at one deadline: every
socket operation waits only for what is left of it. Blocking; run in the delivery helper's
child process (deliver/helper.py), which kills it should it overrun all the same.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from relaypot.judgements import destinations

MAX_LINE = 1000  # RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; room for lax servers
MAX_REPLY_LINES = 64  # Postfix's EHLO has a dozen; Exchange 2000's sixteen
MAX_TEXT = 300  # of the far side's reply, kept in the record


class Refused(Exception):
    """The far side did something no MTA does, or the deadline passed: the delivery fails."""


@dataclass(frozen=True)
class Job:
    address: str  # an IP address, vetted: connected to as is, never looked up again
    port: int
    helo: str
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes  # dot-stuffed, CRLF, without the final "."
    timeout: float  # seconds for the whole conversation
    own: tuple[str, ...] = ()  # the sensor's addresses: the peer is vetted again after connecting
    lab: tuple[str, ...] = ()
    exempt: bool = False  # an operator-named smarthost: not vetted
    max_line: int = MAX_LINE
    max_reply_lines: int = MAX_REPLY_LINES


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reply: str  # the far side's last reply, or what went wrong


def clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


class Conversation:
    def __init__(self, job: Job, clock: Callable[[], float] = time.monotonic) -> None:
        self.job = job
        self.clock = clock
        self.deadline = clock() + job.timeout
        self.sock: socket.socket | ssl.SSLSocket | None = None
        self.buffer = b""

    def remaining(self) -> float:
        left = self.deadline - self.clock()
        if left <= 0:
            raise Refused(f"timed out: the delivery took more than {self.job.timeout:g} s in all")
        return left

    def connect(self) -> None:
        job = self.job
        family = socket.AF_INET6 if ":" in job.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock = sock
        sock.settimeout(self.remaining())
        try:
            sock.connect((job.address, job.port))
        except TimeoutError:
            raise Refused(f"timed out connecting to {job.address}:{job.port}") from None
        peer = str(sock.getpeername()[0])
        why = None if job.exempt else destinations.refusal(peer, job.own, map(_network, job.lab))
        if why is not None or destinations.parse(peer) != destinations.parse(job.address):
            raise Refused(f"connected to {peer}, not the vetted {job.address}" if why is None else why)

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.settimeout(self.remaining())
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise Refused(f"timed out: the delivery took more than {self.job.timeout:g} s in all") from None

    def _line(self) -> bytes:
        assert self.sock is not None
        while b"\n" not in self.buffer:
            if len(self.buffer) > self.job.max_line:
                raise Refused(f"a reply line longer than {self.job.max_line} bytes")
            self.sock.settimeout(self.remaining())
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                raise Refused(f"timed out: the delivery took more than {self.job.timeout:g} s in all") from None
            if not chunk:
                raise Refused("the far side closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        if len(line) > self.job.max_line:
            raise Refused(f"a reply line longer than {self.job.max_line} bytes")
        return line.rstrip(b"\r")

    def reply(self) -> tuple[int, list[str]]:
        """One reply: its code and its lines' texts, within the bounds."""
        lines: list[str] = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in (b"", b" ", b"-"):
                raise Refused(f"not an SMTP reply: {clip(line.decode('utf-8', 'replace'))!r}")
            lines.append(line[4:].decode("utf-8", "replace"))
            if len(lines) > self.job.max_reply_lines:
                raise Refused(f"a reply of more than {self.job.max_reply_lines} lines")
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def command(self, line: bytes) -> tuple[int, str]:
        self.send(line + b"\r\n")
        code, lines = self.reply()
        return code, clip(f"{code} {lines[-1]}" if lines else str(code))

    def starttls(self) -> None:
        assert self.sock is not None
        context = ssl.create_default_context()
        context.check_hostname = False  # opportunistic TLS: any certificate, as MTAs do
        context.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(self.remaining())
        try:
            self.sock = context.wrap_socket(self.sock)
        except (ssl.SSLError, TimeoutError) as exc:
            raise Refused(f"the TLS handshake failed: {exc.__class__.__name__}") from None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


def _network(text: str) -> destinations.Network:
    return ipaddress.ip_network(text, strict=False)


def _address_bytes(address: str, utf8: bool) -> bytes:
    if any(ord(c) < 0x21 or c in "<>\x7f" for c in address):
        raise Refused(f"an address with a space, control character or angle bracket: {clip(address)!r}")
    try:
        return address.encode("ascii")
    except UnicodeEncodeError:
        if not utf8:
            raise Refused("a non-ASCII address, and the far side does not offer SMTPUTF8") from None
        return address.encode("utf-8", "surrogateescape")


def keywords(lines: Iterable[str]) -> set[str]:
    return {line.split(" ", 1)[0].upper() for line in lines}


def deliver(job: Job, clock: Callable[[], float] = time.monotonic) -> Outcome:
    """The conversation: EHLO (HELO if refused), STARTTLS when offered, MAIL, RCPT, DATA, QUIT."""
    talk = Conversation(job, clock)
    try:
        talk.connect()
        code, _ = talk.reply()
        if code != 220:
            return Outcome(False, f"greeted with {code}")
        helo = job.helo.encode("ascii", "replace")
        talk.send(b"EHLO " + helo + b"\r\n")
        code, lines = talk.reply()
        offered = keywords(lines[1:]) if code == 250 else set()
        if code != 250:
            code, text = talk.command(b"HELO " + helo)
            if code != 250:
                return Outcome(False, text)
        if "STARTTLS" in offered:
            code, text = talk.command(b"STARTTLS")
            if code == 220:
                talk.starttls()
                talk.send(b"EHLO " + helo + b"\r\n")
                code, lines = talk.reply()
                if code != 250:
                    return Outcome(False, clip(f"{code} {lines[-1]}"))
                offered = keywords(lines[1:])
        utf8 = "SMTPUTF8" in offered
        needs_utf8 = not all(a.isascii() for a in (job.mail_from, *job.recipients))
        sender = _address_bytes(job.mail_from, utf8) if job.mail_from else b""
        code, text = talk.command(b"MAIL FROM:<" + sender + b">" + (b" SMTPUTF8" if needs_utf8 else b""))
        if code != 250:
            return Outcome(False, text)
        taken = 0
        for recipient in job.recipients:
            code, text = talk.command(b"RCPT TO:<" + _address_bytes(recipient, utf8) + b">")
            taken += code in (250, 251)
        if not taken:
            return Outcome(False, text)
        code, text = talk.command(b"DATA")
        if code != 354:
            return Outcome(False, text)
        talk.send(job.data + b".\r\n")
        code, lines = talk.reply()
        outcome = Outcome(code == 250, clip(f"{code} {lines[-1]}"))
        try:
            talk.command(b"QUIT")
        except (Refused, OSError):
            pass  # the message is taken or refused already; the far side's goodbye changes nothing
        return outcome
    except Refused as exc:
        return Outcome(False, clip(str(exc)))
    except OSError as exc:
        return Outcome(False, clip(f"{exc.__class__.__name__}: {exc.strerror or exc}"))
    finally:
        talk.close()
