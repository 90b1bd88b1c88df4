"""What a Session asks of its transport, besides events: write a reply, start TLS, store a message, close."""

from __future__ import annotations

from dataclasses import dataclass

from relaypot.events import Event, Fragment


@dataclass(frozen=True, slots=True)
class Reply:
    """Bytes to write, already CRLF-framed; `delay` seconds first (a persona's failure delay).
    `corked`: the server holds the reply until it closes, waiting at most `delay` for the client
    (Exim's QUIT): the client's next bytes or its FIN end the wait at once, and a close that is a
    reset takes the reply with it. `flushed`: written at once after its wait, with whatever the
    server held unflushed, though input waits (Postfix's smtpd_chat_reply() after its tar pit's
    sleep)."""

    data: bytes
    code: int
    delay: float = 0.0
    corked: bool = False
    flushed: bool = False


@dataclass(frozen=True, slots=True)
class GreetPause:
    """Wait `seconds` before the greeting; then call `Session.greet` unless the client spoke
    first (its bytes reach `Session.receive_data`, which answers for itself)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Wait:
    """Write every reply before this, wait `seconds` (the client's bytes that come meanwhile reach
    `Session.receive_data`, which keeps them), then call `Session.waited`: a server's sleep whose
    end sees what the client sent during it (Sendmail's checksmtpattack() before a HELO)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class StartTls:
    """Write every reply before this, then upgrade the stream and call `Session.tls_started`."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """Store `body`, then call `Session.message_stored` (the 250 waits until the bytes are on disk)."""

    body: bytes
    transfer: str


@dataclass(frozen=True, slots=True)
class Close:
    """Write every reply before this, then close the connection. `clear`: bytes written after TLS
    is dropped without a close_notify, outside it (Exim's smtp_notquit_exit inside TLS)."""

    reason: str
    clear: bytes = b""
    # the server closes with the client's bytes unread (it reads a byte at a time there): the
    # kernel answers with a reset, not a FIN
    reset: bool = False
    # seconds the real server's close comes after its last reply is written (its process ending:
    # [server] close_lag): a client's bytes that arrive meanwhile are never read, and the close is
    # a reset
    lag: float = 0.0


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """What the transport tells the session after storing a message."""

    sha256: str = ""
    path: str = ""
    size: int = 0
    summary: dict | None = None  # subject, header_from, ..., attachments, urls
    refused: str | None = None  # "disk_full" when the store is over its limit


@dataclass(frozen=True, slots=True)
class Keep:
    """Bytes a client sent that are no accepted message: store them, and record the `Fragment`
    `record` makes of what the store says. Kept whole (an unfinished message) or their first
    `[limits] max_fragment` bytes (`received` says how many came)."""

    data: bytes
    what: str  # message | oversize | xexch50 | line | unread
    reason: str  # why it ended where it did
    received: int
    received_sha256: str | None = None  # of everything received, where more came than was kept
    mail_from: str | None = None
    rcpt_to: tuple[str, ...] = ()

    def record(self, stored: StoredMessage) -> Fragment:
        return Fragment(what=self.what, reason=self.reason, size=len(self.data), received=self.received,
                        sha256=stored.sha256, path=None if stored.refused else stored.path,
                        received_sha256=self.received_sha256, mail_from=self.mail_from, rcpt_to=self.rcpt_to,
                        refused=stored.refused)


# Everything a session's call returns, in order: replies, events and instructions.
Output = Reply | Event | StartTls | Deliver | Close | Keep | GreetPause | Wait
