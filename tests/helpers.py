"""Small helpers for driving a sans-IO Session in tests."""

from __future__ import annotations

from relaypot.events import Event
from relaypot.protocol.outputs import Close, Deliver, Reply, StartTls, StoredMessage
from relaypot.protocol.session import Session


class Driver:
    """Feeds a Session and plays its transport: stores messages, completes TLS, collects everything."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.replies: list[Reply] = []
        self.events: list[Event] = []
        self.delivered: list[Deliver] = []
        self.closed: str | None = None
        self.tls_requested = 0
        self.take(session.start())

    def take(self, outputs: list) -> None:
        for item in outputs:
            if isinstance(item, Reply):
                self.replies.append(item)
            elif isinstance(item, Deliver):
                self.delivered.append(item)
                self.take(self.session.message_stored(
                    StoredMessage(f"{len(self.delivered):064x}", f"messages/{len(self.delivered)}.eml", len(item.body))
                ))
            elif isinstance(item, StartTls):
                self.tls_requested += 1
                self.take(self.session.tls_started("TLSv1.3", "TLS_AES_256_GCM_SHA384", None))
            elif isinstance(item, Close):
                self.closed = item.reason
            else:
                self.events.append(item)

    def feed(self, data: bytes) -> Driver:
        self.take(self.session.receive_data(data))
        while self.session.backlog:  # a transport that reads its replies at once
            self.take(self.session.resume())
        return self

    def finish(self, reason: str = "peer_closed") -> Driver:
        self.take(self.session.finish(reason))
        return self

    @property
    def wire(self) -> bytes:
        return b"".join(r.data for r in self.replies)

    def codes(self) -> list[int]:
        return [r.code for r in self.replies]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list:
        return [e for e in self.events if e.kind == kind]


def feed_chunks(session: Session, data: bytes, sizes: list[int]) -> Driver:
    driver = Driver(session)
    pos = 0
    for size in sizes:
        if pos >= len(data):
            break
        driver.feed(data[pos : pos + size])
        pos += size
    if pos < len(data):
        driver.feed(data[pos:])
    return driver
