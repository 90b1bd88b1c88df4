"""What a Session asks of its transport, besides events: write a reply, start TLS, store a message, close."""

from __future__ import annotations

from dataclasses import dataclass

from relaypot.events import Event


@dataclass(frozen=True, slots=True)
class Reply:
    """Bytes to write, already CRLF-framed; `delay` seconds first (a persona's failure delay)."""

    data: bytes
    code: int
    delay: float = 0.0


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
    """Write every reply before this, then close the connection."""

    reason: str


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """What the transport tells the session after storing a message."""

    sha256: str = ""
    path: str = ""
    size: int = 0
    summary: dict | None = None  # subject, header_from, ..., attachments, urls
    refused: str | None = None  # "disk_full" when the store is over its limit


# Everything a session's call returns, in order: replies, events and instructions.
Output = Reply | Event | StartTls | Deliver | Close
